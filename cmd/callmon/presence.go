package main

import (
	"context"
	"errors"
	"fmt"

	"callmon/ari"
	"callmon/callback/presence"
	cbweb "callmon/callback/web"
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

// pagePresence lets the agent page show and change presence in ari. ag is
// set once the App exists, before HTTP serves.
type pagePresence struct{ ag *ari.Agents }

var _ cbweb.PresenceService = (*pagePresence)(nil)

func (p *pagePresence) Presence(agent string) (cbweb.Presence, bool) {
	st, err := p.ag.Get(agent)
	if err != nil {
		return cbweb.Presence{}, false
	}
	return pageView(st), true
}

func (p *pagePresence) SetPresence(agent, action, reason, by string) (cbweb.Presence, error) {
	st, err := p.ag.Set(ari.PresenceChange{Agent: agent, Action: action, Reason: reason, By: by})
	if errors.Is(err, ari.ErrBadPresence) {
		return cbweb.Presence{}, presenceInputError{err}
	}
	if err != nil {
		return cbweb.Presence{}, err
	}
	return pageView(st), nil
}

func pageView(st ari.AgentStatus) cbweb.Presence {
	return cbweb.Presence{LoggedIn: st.LoggedIn, Paused: st.Paused, State: st.State, Reason: st.PauseReason}
}

// presenceInputError is ari's refusal, with its message, as the page's 400.
type presenceInputError struct{ error }

func (presenceInputError) Is(target error) bool { return target == cbweb.ErrPresenceInput }
