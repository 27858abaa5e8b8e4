package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"callmon/callback/retention"
	"callmon/callback/tasks"
	"callmon/callback/voicemails"
	"callmon/callback/web"
)

// storedVoicemails is the voicemail API over the real store, with audio that
// is always there while the voicemail is.
type storedVoicemails struct{ *voicemails.Store }

func (s storedVoicemails) MarkHeard(ctx context.Context, id int64) (voicemails.Voicemail, error) {
	return s.Store.MarkHeard(ctx, id, t0)
}

func (s storedVoicemails) Audio(_ context.Context, _ voicemails.Voicemail, w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "audio/wav")
	_, err := w.Write([]byte("RIFF"))
	return err
}

func (storedVoicemails) Owner(employee string) string { return employee }

// A voicemail or task whose personal data the retention job removed is
// answered with 410 Gone and a sentence saying so, not 500 or an empty task.
func TestRemovedAfterRetentionIsGone(t *testing.T) {
	t.Parallel()
	var vs *voicemails.Store
	e2 := newEnvWith(t, func(o *web.Options) {
		vs = voicemails.New(o.Pool)
		o.Voicemails = storedVoicemails{vs}
	})
	ctx := context.Background()

	vm, _, err := vs.Save(ctx, voicemails.NewVoicemail{Employee: "anna", CallerNumber: "0612345678",
		ReceivedAt: time.Now().Add(-time.Hour), Duration: 10 * time.Second, Recording: "vm-1", ChannelID: "ch-1"})
	if err != nil {
		t.Fatal(err)
	}
	task := e2.seed("general", at(11, 0))
	if _, err := e2.store.Cancel(ctx, task.ID, "anna", task.Version, "de beller is langs geweest"); err != nil {
		t.Fatal(err)
	}
	audio := "/api/voicemails/" + strconv.FormatInt(vm.ID, 10) + "/audio"
	taskPath := "/api/tasks/" + strconv.FormatInt(task.ID, 10)
	e2.call("GET", audio, "anna", nil, http.StatusOK, nil)
	e2.call("GET", taskPath, "sam", nil, http.StatusOK, nil)

	job := retention.New(e2.db.Pool(), retention.Options{Now: func() time.Time { return time.Now().Add(400 * 24 * time.Hour) }})
	if _, err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := e2.request("GET", audio, "anna", nil)
	if status != http.StatusGone || !strings.Contains(string(body), "retention period") {
		t.Errorf("GET %s after retention: %d %s, want 410 saying why", audio, status, body)
	}
	status, body = e2.request("POST", "/api/voicemails/"+strconv.FormatInt(vm.ID, 10)+"/heard", "anna", nil)
	if status != http.StatusGone {
		t.Errorf("POST heard after retention: %d %s, want 410", status, body)
	}
	var got struct {
		Error string     `json:"error"`
		Task  tasks.Task `json:"task"`
	}
	e2.call("GET", taskPath, "sam", nil, http.StatusGone, &got)
	if !strings.Contains(got.Error, "retention period") || got.Task.ID != task.ID || got.Task.Number != "" ||
		got.Task.Status != tasks.Cancelled || got.Task.MaskedAt.IsZero() {
		t.Errorf("GET %s after retention: %+v", taskPath, got)
	}
	var list struct {
		Voicemails []voicemails.Voicemail `json:"voicemails"`
	}
	e2.call("GET", "/api/voicemails", "anna", nil, http.StatusOK, &list)
	if len(list.Voicemails) != 0 {
		t.Errorf("removed voicemail still listed: %+v", list.Voicemails)
	}
}
