package web

import (
	"context"

	"callmon/auth"
)

// Principal is who a request comes from (package auth).
type Principal = auth.Principal

// principal returns the principal auth.Require put in the request.
func principal(r interface{ Context() context.Context }) Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}
