package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"callmon/auth"
	"callmon/cmd/callmon/config"
)

// errReloadFixed marks a reload refused because it changes settings that
// are fixed at start.
var errReloadFixed = errors.New("reload refused")

// Reload re-reads the configuration file and applies what can change while
// callmon runs (config.LiveQueueKeys) to new calls; calls in progress keep
// the settings they started with. A file that does not parse or validate,
// or that changes a setting fixed at start (config.Fixed), changes nothing.
// who is "SIGHUP" or the person who asked; every attempt is one audit line.
func (d *daemon) Reload(ctx context.Context, who string) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.cfg
	changed, err := d.reload(old)
	result := "applied"
	if err != nil {
		result = "refused"
	} else if len(changed) == 0 {
		result = "unchanged"
	}
	attrs := []any{"action", "reload", "who", who, "file", old.File, "result", result, "changed", strings.Join(changed, "; ")}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	d.log.InfoContext(ctx, "audit", attrs...)
	return err
}

func (d *daemon) reload(old *config.Config) ([]string, error) {
	if old.File == "" {
		return nil, errors.New("reload: this callmon was not started from a configuration file")
	}
	next, err := config.Load(old.File)
	if err != nil {
		return nil, fmt.Errorf("reload: the configuration in force is kept: %w", err)
	}
	if fixed := config.Fixed(old, next); len(fixed) > 0 {
		return nil, fmt.Errorf("%w: %s cannot change while callmon runs (restart callmon to apply); nothing was changed",
			errReloadFixed, strings.Join(fixed, ", "))
	}
	if err := next.CheckNewTokens(old); err != nil {
		return nil, fmt.Errorf("reload: the configuration in force is kept: %w", err)
	}
	changed := config.Changed(old, next)
	ps, err := auth.NewPrincipals(next.Credentials())
	if err != nil {
		return nil, fmt.Errorf("reload: the configuration in force is kept: %w", err)
	}
	if err := d.App.SetQueues(ariQueues(next)); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	// A new or removed token applies at once: a leaked token is revoked
	// by a reload, without a restart that would drop calls.
	d.auth.SetPrincipals(ps)
	d.cfg = next
	return changed, nil
}
