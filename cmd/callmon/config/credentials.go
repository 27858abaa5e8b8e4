package config

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"callmon/auth"
)

// Credentials are everyone who may sign in: agents and employees with a
// token_hash, supervisors and wallboards.
func (c *Config) Credentials() []auth.Credential {
	var creds []auth.Credential
	for _, a := range c.Agents {
		if a.TokenHash != "" {
			creds = append(creds, auth.Credential{ID: a.ID, Role: auth.Agent, TokenHash: a.TokenHash})
		}
	}
	for _, e := range c.Employees {
		if e.TokenHash != "" {
			creds = append(creds, auth.Credential{ID: e.ID, Role: auth.Employee, TokenHash: e.TokenHash})
		}
	}
	for _, s := range c.Supervisors {
		creds = append(creds, auth.Credential{ID: s.ID, Role: auth.Supervisor, TokenHash: s.TokenHash})
	}
	for _, w := range c.Wallboards {
		creds = append(creds, auth.Credential{ID: w.ID, Role: auth.Wallboard, TokenHash: w.TokenHash})
	}
	return creds
}

// CheckTokens refuses what Parse cannot see cheaply: two principals with one
// id, and hashes of known weak tokens (auth.CheckWeak: six bcrypt compares
// per principal, about half a second each, spread over the CPUs).
// check-config calls it; run calls CheckPrincipals at start and this after
// it serves (a restart must not wait seconds for bcrypt: it delays a takeover).
func (c *Config) CheckTokens() error {
	if err := c.CheckPrincipals(); err != nil {
		return err
	}
	creds := c.Credentials()
	errs := make([]error, len(creds))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, cr := range creds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := auth.CheckWeak(cr.ID, cr.TokenHash); err != nil {
				errs[i] = fmt.Errorf("%s: %s %q: %w", c.File, cr.Role, cr.ID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CheckPrincipals refuses two principals with one id, and hash forms auth
// does not take (unsalted SHA-256 among them); cheap.
func (c *Config) CheckPrincipals() error {
	if _, err := auth.NewPrincipals(c.Credentials()); err != nil {
		return fmt.Errorf("%s: %w", c.File, err)
	}
	return nil
}
