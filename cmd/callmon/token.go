package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"callmon/auth"
)

// cmdToken prints a new token for a principal and the bcrypt hash that goes
// into the configuration. The token is shown once; callmon keeps only the
// hash.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "id of the agent, employee, supervisor or wallboard (as in the configuration)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id == "" || auth.TokenID(*id+".x") == "" {
		return usageError{errors.New("--id: give the principal's id (letters, digits, _ and -), e.g. --id anna")}
	}
	token := auth.NewToken(*id)
	hash, err := auth.HashToken(token)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `token:      %s
token_hash: %s

Give the token to %s (once, by a safe channel): it signs in at /signin, or
programs send "Authorization: Bearer <token>". Put the hash in the
configuration under the entry with "id: %s":

    token_hash: '%s'

then run callmon check-config. callmon keeps no copy of the token: a lost
token is replaced by running this again.
`, token, hash, *id, *id, hash)
	return nil
}
