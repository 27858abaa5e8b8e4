// Package reststatus tells the HTTP status of a failed ari/v5 REST request.
package reststatus

import (
	"errors"

	"github.com/CyCoreSystems/ari/v5/client/native"
)

// Of is the HTTP status of a failed request, 0 if it got none. ari/v5's Data
// getters wrap the request error in a type with Cause but no Unwrap ("Error
// getting data for channel …"), which native.CodeFromError does not see
// through, so the chain is followed through Cause too.
func Of(err error) int {
	for range 8 { // a bound against a Cause that returns its own error
		var re native.RequestError
		if errors.As(err, &re) {
			return re.Code()
		}
		var c interface{ Cause() error }
		if !errors.As(err, &c) {
			return 0
		}
		next := c.Cause()
		if next == nil || next == err {
			return 0
		}
		err = next
	}
	return 0
}
