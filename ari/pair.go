package ari

import (
	"strings"

	"github.com/CyCoreSystems/ari/v5"
)

// pairCall carries on an automatic callback that a previous process left in
// conversation: the agent and the customer in callmon's mixing bridge.
// Nothing more is measured (the dial's outcome belongs to its task); when
// either side leaves, the other is hung up and the bridge deleted, so
// nobody is left alone on the line.
type pairCall struct {
	a      *App
	bridge string
	legs   [2]string
	mb     *mailbox
}

func (p *pairCall) inbox() *mailbox { return p.mb }

func (p *pairCall) run() {
	defer func() {
		p.mb.close()
		p.a.forget(p, func() { delete(p.a.pairs, p.bridge) })
	}()
	for {
		msg, ok := p.mb.next()
		if !ok {
			return
		}
		var gone string
		switch m := msg.(type) {
		case *ari.ChannelHangupRequest:
			gone = m.Channel.ID
		case *ari.StasisEnd:
			gone = m.Channel.ID
		case *ari.ChannelDestroyed:
			gone = m.Channel.ID
		case *ari.ChannelLeftBridge:
			gone = m.Channel.ID
		case resyncMsg:
			for _, l := range p.legs {
				if !m.channels[l] {
					gone = l
				}
			}
		}
		gone = strings.TrimSuffix(gone, ";2")
		if gone != p.legs[0] && gone != p.legs[1] {
			continue
		}
		for _, l := range p.legs {
			if l != gone {
				p.a.hangup(l)
			}
		}
		p.a.deleteBridge(p.bridge)
		return
	}
}

// adoptPairs carries on the automatic callbacks in conversation: a mixing
// bridge cm-cb…-mix holding both of its legs. It returns the bridges taken.
func (a *App) adoptPairs(inv *inventory) []string {
	var owned []string
	for _, b := range inv.bridges {
		if !strings.HasPrefix(b.ID, idPrefix+"cb") || !strings.HasSuffix(b.ID, "-mix") {
			continue
		}
		base := strings.TrimSuffix(b.ID, "-mix")
		legs := [2]string{base + "-agent", base + "-cust"}
		in := 0
		for _, ch := range b.Channels {
			if ch == legs[0] || ch == legs[1] {
				in++
			}
		}
		if in != 2 {
			continue // one side is gone: the orphan clean-up ends the other
		}
		p := &pairCall{a: a, bridge: b.ID, legs: legs, mb: newMailbox()}
		if a.spawn(func() bool {
			if a.routes[legs[0]] != nil {
				return false // this process runs it already
			}
			a.pairs[b.ID] = p
			for _, l := range legs {
				a.routes[l], a.routes[l+";2"] = p, p
			}
			return true
		}, p.run) {
			a.log.Info("carrying on an automatic callback in conversation", "bridge", b.ID)
			owned = append(owned, b.ID)
		}
	}
	return owned
}
