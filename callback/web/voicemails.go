package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"callmon/auth"
	"callmon/callback/voicemails"
)

// Voicemails is what the voicemail API needs: the stored messages, their
// audio (from Asterisk) and the message-waiting indicator to refresh.
type Voicemails interface {
	List(ctx context.Context, employee string, unheardOnly bool) ([]voicemails.Voicemail, error)
	Get(ctx context.Context, id int64) (voicemails.Voicemail, error)
	MarkHeard(ctx context.Context, id int64) (voicemails.Voicemail, error)
	// Audio streams the recording to w (Content-Type and body).
	Audio(ctx context.Context, v voicemails.Voicemail, w http.ResponseWriter) error
	// Owner is the principal (agent id) an employee's messages belong to.
	Owner(employee string) string
}

// voicemail routes: GET /api/voicemails?employee=&unheard=1,
// GET /api/voicemails/{id}/audio, POST /api/voicemails/{id}/heard. An
// employee (signed in with their agent id) sees their own; a supervisor all.
func (s *Server) voicemailRoutes(mux routeMux) {
	if s.voicemails == nil {
		return
	}
	people := auth.Roles(auth.Agent, auth.Employee, auth.Supervisor)
	mux.Handle("GET /api/voicemails", s.read(people, s.listVoicemails))
	mux.Handle("GET /api/voicemails/{id}/audio", s.read(people, s.voicemailAudio))
	mux.Handle("POST /api/voicemails/{id}/heard", s.change("voicemail heard", people, s.voicemailHeard))
}

func (s *Server) listVoicemails(w http.ResponseWriter, r *http.Request, p Principal) {
	vs := s.voicemails
	employee := r.URL.Query().Get("employee")
	if !utf8.ValidString(employee) || strings.ContainsRune(employee, 0) {
		// PostgreSQL would refuse it; no employee has such an id.
		writeError(w, http.StatusBadRequest, "employee %q is not an employee id", employee)
		return
	}
	list, err := vs.List(r.Context(), employee, r.URL.Query().Get("unheard") == "1")
	if err != nil {
		s.log.Error("listing voicemails", "err", err)
		writeError(w, http.StatusInternalServerError, "listing voicemails failed; see callmon's log")
		return
	}
	out := make([]voicemails.Voicemail, 0, len(list))
	for _, v := range list {
		if p.IsSupervisor() || vs.Owner(v.Employee) == p.ID {
			out = append(out, v)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Voicemails []voicemails.Voicemail `json:"voicemails"`
	}{out})
}

// loadVoicemail finds a message the principal may access, or writes the error.
func (s *Server) loadVoicemail(w http.ResponseWriter, r *http.Request, p Principal) (voicemails.Voicemail, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "voicemail id %q is not a number", r.PathValue("id"))
		return voicemails.Voicemail{}, false
	}
	v, err := s.voicemails.Get(r.Context(), id)
	switch {
	case errors.Is(err, voicemails.ErrNotFound):
		writeError(w, http.StatusNotFound, "no voicemail %d", id)
		return v, false
	case err != nil:
		s.log.Error("reading voicemail", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "reading voicemail failed; see callmon's log")
		return v, false
	case !p.IsSupervisor() && s.voicemails.Owner(v.Employee) != p.ID:
		writeError(w, http.StatusForbidden, "voicemail %d is not yours", id)
		return v, false
	case v.Removed():
		writeError(w, http.StatusGone, "voicemail %d: the recording and the caller's number were deleted on %s after the retention period",
			id, v.MaskedAt.In(s.loc).Format("2006-01-02"))
		return v, false
	}
	return v, true
}

func (s *Server) voicemailAudio(w http.ResponseWriter, r *http.Request, p Principal) {
	v, ok := s.loadVoicemail(w, r, p)
	if !ok {
		return
	}
	if err := s.voicemails.Audio(r.Context(), v, w); err != nil {
		s.log.Error("streaming voicemail audio", "id", v.ID, "err", err)
		writeError(w, http.StatusBadGateway, "the recording could not be fetched from Asterisk")
	}
}

func (s *Server) voicemailHeard(w http.ResponseWriter, r *http.Request, p Principal) {
	v, ok := s.loadVoicemail(w, r, p)
	if !ok {
		return
	}
	v, err := s.voicemails.MarkHeard(r.Context(), v.ID)
	if err != nil {
		s.log.Error("marking voicemail heard", "id", v.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "marking the voicemail heard failed; see callmon's log")
		return
	}
	writeJSON(w, http.StatusOK, v)
}
