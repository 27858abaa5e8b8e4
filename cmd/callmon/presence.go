package main

import (
	"context"
	"errors"
	"fmt"

	"callmon/ari"
	"callmon/callback/presence"
)

// presenceStore lets package ari keep presence in PostgreSQL without knowing
// it: ari holds presence in memory and decides what it means for calls,
// package presence owns the table.
type presenceStore struct{ s *presence.Store }

var _ ari.PresenceStore = presenceStore{}

func (p presenceStore) Load(ctx context.Context) (map[string]ari.Presence, error) {
	rows, err := p.s.Load(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ari.Presence, len(rows))
	for id, r := range rows {
		out[id] = ari.Presence{Agent: r.Agent, LoggedIn: r.LoggedIn, Paused: r.Paused, Reason: r.Reason,
			ChangedAt: r.ChangedAt, ChangedBy: r.ChangedBy}
	}
	return out, nil
}

func (p presenceStore) Save(ctx context.Context, pr ari.Presence) error {
	_, err := p.s.Save(ctx, presence.Presence{Agent: pr.Agent, LoggedIn: pr.LoggedIn, Paused: pr.Paused,
		Reason: pr.Reason, ChangedAt: pr.ChangedAt, ChangedBy: pr.ChangedBy})
	if errors.Is(err, presence.ErrInvalid) {
		return fmt.Errorf("%w: %w", ari.ErrPresenceRefused, err)
	}
	return err
}

func (p presenceStore) Listen(ctx context.Context, changed func(agent string)) error {
	return p.s.Listen(ctx, changed)
}
