package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"callmon/callback/tasks"
)

// errorIn sends a request asking for lang (none: "") and returns the error message.
func (e *env) errorIn(lang, method, path, who string, body any) (int, string) {
	e.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	e.authorize(req, who)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb struct{ Error string }
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Error
}

// The agent page asks for its language and gets the API's errors in it; a program that asks
// for nothing gets English.
func TestErrorsInThePagesLanguage(t *testing.T) {
	e := newEnv(t)
	late := agreed("general", at(17, 30)) // after closing
	if code, msg := e.errorIn("nl", "POST", "/api/tasks", "anna", late); code != 422 || !strings.Contains(msg, "valt buiten de openingstijden") {
		t.Errorf("Dutch: %d %q", code, msg)
	}
	if code, msg := e.errorIn("", "POST", "/api/tasks", "anna", late); code != 422 || !strings.Contains(msg, "is outside opening hours") {
		t.Errorf("English: %d %q", code, msg)
	}
	bad := agreed("general", at(9, 55))
	bad["number"] = "12345"
	if code, msg := e.errorIn("nl-NL,nl;q=0.9", "POST", "/api/tasks", "anna", bad); code != 400 || !strings.Contains(msg, "Nederlands telefoonnummer") {
		t.Errorf("Dutch number error: %d %q", code, msg)
	}
	// A conflict from the task store: claimed with a version that is no longer current.
	task := e.create("anna", agreed("general", at(9, 55)))
	if code, msg := e.errorIn("nl", "POST", "/api/tasks/"+strconv.FormatInt(task.ID, 10)+"/claim", "anna", map[string]any{"version": task.Version + 5}); code != 409 ||
		!strings.Contains(msg, "de taak is intussen gewijzigd: taak") || !strings.Contains(msg, "is intussen gewijzigd") {
		t.Errorf("Dutch conflict: %d %q", code, msg)
	}
	if code, msg := e.errorIn("en", "POST", "/api/tasks/"+strconv.FormatInt(task.ID, 10)+"/claim", "anna", map[string]any{"version": task.Version + 5}); code != 409 ||
		!strings.HasPrefix(msg, tasks.ErrConflict.Error()+": task ") {
		t.Errorf("English conflict: %d %q", code, msg)
	}
}
