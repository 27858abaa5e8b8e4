package aritest

import "net/http"

// Playbacks: 201 with state "queued", PlaybackStarted ("playing") as soon as nothing else plays
// on the target, PlaybackFinished ("done") after the media's duration or when stopped or hung
// up (Asterisk reports stopped and completed playbacks alike as "done").

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
	rep := reply{http.StatusCreated, p.snapshot()}
	switch {
	case p.ch != nil && p.ch.playing == nil:
		s.startPlayback(p)
	case p.ch != nil:
		p.ch.queued = append(p.ch.queued, p)
	case p.br.playing == nil:
		s.startPlayback(p)
	default:
		p.br.queued = append(p.br.queued, p)
	}
	return rep
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

// finishPlayback ends p; next starts the target's next queued playback.
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
	var queue *[]*playback
	if p.ch != nil {
		p.ch.playing = nil
		queue = &p.ch.queued
	} else {
		p.br.playing = nil
		queue = &p.br.queued
	}
	if next && len(*queue) > 0 {
		n := (*queue)[0]
		*queue = (*queue)[1:]
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
		queue := &p.br.queued
		if p.ch != nil {
			queue = &p.ch.queued
		}
		for i, o := range *queue {
			if o == p {
				*queue = append((*queue)[:i:i], (*queue)[i+1:]...)
				break
			}
		}
	}
	s.finishPlayback(p, true)
	return noContent
}

// stopPlaybacks ends what plays on a channel that is going away.
func (s *Server) stopPlaybacks(c *channel) {
	for _, p := range c.queued {
		s.finishPlayback(p, false)
	}
	c.queued = nil
	if c.playing != nil {
		s.finishPlayback(c.playing, false)
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
