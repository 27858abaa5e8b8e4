package aritest

import "net/http"

// Playbacks: 201 with state "queued" (or already "playing", see created), PlaybackStarted
// ("playing") as soon as nothing else plays or records on the target, PlaybackFinished ("done")
// after the media's duration or when stopped or hung up (Asterisk reports stopped and completed
// playbacks alike as "done"). On a channel, playbacks queue with recordings and continues on
// the channel's Stasis control (runOps); on a bridge, behind the bridge's other playbacks.

func (s *Server) playOnChannel(q *request) reply {
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	return s.play(q, &playback{target: "channel:" + c.id, ch: c})
}

func (s *Server) playOnBridge(q *request) reply {
	b := s.bridges[q.path("id")]
	if b == nil {
		return fail(http.StatusNotFound, "Bridge not found")
	}
	return s.play(q, &playback{target: "bridge:" + b.id, br: b})
}

func (s *Server) play(q *request, p *playback) reply {
	p.media = q.params.str("media")
	if p.media == "" {
		return fail(http.StatusBadRequest, "Missing parameter media")
	}
	p.id = q.path("playback")
	if p.id == "" {
		p.id = q.params.str("playbackId")
	}
	if p.id == "" {
		p.id = s.newUUID()
	}
	if s.playbacks[p.id] != nil {
		return fail(http.StatusConflict, "Playback with given ID already exists")
	}
	p.state = "queued"
	s.playbacks[p.id] = p
	queued := p.snapshot()
	switch {
	case p.ch != nil:
		p.ch.ops = append(p.ch.ops, chanOp{pb: p})
		s.runOps(p.ch)
	case p.br.playing == nil:
		s.startPlayback(p)
	default:
		p.br.queued = append(p.br.queued, p)
	}
	return s.created(queued, p.snapshot())
}

// created is the 201 of a request that queued a playback or a recording. Asterisk takes the
// snapshot for it on the HTTP thread while the channel's own thread may already have started
// the media, so the same request is answered "queued" in one run and "playing" (or "recording")
// in another (direct-voicemail*: the intro 3 of 3 "playing", the goodbye 2 of 2 "queued", the
// recording 2 of 3 "queued"). The fake answers with the state after the handler when the events
// go before the response (OrderEventsFirst), the state before it otherwise.
func (s *Server) created(before, after any) reply {
	if s.cur != nil && s.cur.gate == nil {
		return reply{status: http.StatusCreated, body: after}
	}
	return reply{status: http.StatusCreated, body: before}
}

func (s *Server) startPlayback(p *playback) {
	if p.ch != nil {
		p.ch.playing = p
	} else {
		p.br.playing = p
	}
	p.state = "playing"
	s.playbackEvent(p, "PlaybackStarted")
	d, known := s.opt.Media[p.media]
	if !known {
		d = DefaultMediaDuration
	}
	p.stop = s.after(d, func() { s.finishPlayback(p, true) })
}

// finishPlayback ends p; next starts what waits on the target.
func (s *Server) finishPlayback(p *playback, next bool) {
	if p.state == "done" {
		return
	}
	wasPlaying := p.state == "playing"
	p.state = "done"
	if p.stop != nil {
		p.stop()
	}
	delete(s.playbacks, p.id)
	if !wasPlaying {
		return // never started: nothing to report
	}
	s.playbackEvent(p, "PlaybackFinished")
	if p.ch != nil {
		p.ch.playing = nil
		if next {
			s.runOps(p.ch)
		}
		return
	}
	p.br.playing = nil
	if next && len(p.br.queued) > 0 {
		n := p.br.queued[0]
		p.br.queued = p.br.queued[1:]
		s.startPlayback(n)
	}
}

func (s *Server) getPlayback(q *request) reply {
	p := s.playbacks[q.path("id")]
	if p == nil {
		return fail(http.StatusNotFound, "Playback not found")
	}
	return ok(p.snapshot())
}

// stopPlayback is DELETE /playbacks/{id}.
func (s *Server) stopPlayback(q *request) reply {
	p := s.playbacks[q.path("id")]
	if p == nil {
		return fail(http.StatusNotFound, "Playback not found")
	}
	if p.state == "queued" {
		if p.ch != nil {
			p.ch.removeOp(func(op chanOp) bool { return op.pb == p })
		} else {
			for i, o := range p.br.queued {
				if o == p {
					p.br.queued = append(p.br.queued[:i:i], p.br.queued[i+1:]...)
					break
				}
			}
		}
	}
	s.finishPlayback(p, true)
	return noContent
}

// runOps starts the commands waiting on a channel's Stasis control, in order, until one of them
// keeps the channel busy (a playback or a recording) or takes it out of Stasis (a continue).
func (s *Server) runOps(c *channel) {
	for !c.dead && c.inStasis && c.playing == nil && c.recording == nil && len(c.ops) > 0 {
		op := c.ops[0]
		c.ops = c.ops[1:]
		switch {
		case op.pb != nil:
			s.startPlayback(op.pb)
		case op.rec != nil:
			s.startRecording(op.rec)
		case op.cont != nil:
			s.continueInDialplan(c, *op.cont)
		}
	}
}

func (c *channel) removeOp(match func(chanOp) bool) {
	for i, op := range c.ops {
		if match(op) {
			c.ops = append(c.ops[:i:i], c.ops[i+1:]...)
			return
		}
	}
}

// dropOps forgets the commands that never ran: the channel went away or left Stasis. A queued
// playback or recording vanishes without an event.
func (s *Server) dropOps(c *channel) {
	ops := c.ops
	c.ops = nil
	for _, op := range ops {
		switch {
		case op.pb != nil:
			s.finishPlayback(op.pb, false)
		case op.rec != nil:
			s.forgetRecording(op.rec)
		}
	}
}

// stopMedia ends what plays or records on a channel that is going away (hung up, destroyed):
// PlaybackFinished or RecordingFinished (the recording keeps what it has, as in
// direct-voicemail); what waited behind it never starts.
func (s *Server) stopMedia(c *channel) {
	s.dropOps(c)
	if c.playing != nil {
		s.finishPlayback(c.playing, false)
	}
	if c.recording != nil {
		s.finishRecording(c.recording, endHangup)
	}
}

func (s *Server) stopBridgePlaybacks(b *bridge) {
	for _, p := range b.queued {
		s.finishPlayback(p, false)
	}
	b.queued = nil
	if b.playing != nil {
		s.finishPlayback(b.playing, false)
	}
}
