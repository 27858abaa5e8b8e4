//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// lockFile only opens path: callmon runs on Linux, and elsewhere nothing
// stops two processes from sharing a spool.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
}
