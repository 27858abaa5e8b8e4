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
	return c.checkWeak(c.Credentials())
}

// CheckNewTokens is CheckTokens for the tokens that are new since old (a
// reload): only those cost bcrypt compares.
func (c *Config) CheckNewTokens(old *Config) error {
	if err := c.CheckPrincipals(); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, cr := range old.Credentials() {
		known[cr.TokenHash] = true
	}
	var fresh []auth.Credential
	for _, cr := range c.Credentials() {
		if !known[cr.TokenHash] {
			fresh = append(fresh, cr)
		}
	}
	return c.checkWeak(fresh)
}

func (c *Config) checkWeak(creds []auth.Credential) error {
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
