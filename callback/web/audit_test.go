package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestChangesAreAudited: each change is one audit line with who, role,
// action, target and outcome, refused ones included, without the number.
func TestChangesAreAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	task := e.create("anna", agreed("general", at(14, 0)))
	e.call("POST", fmt.Sprintf("/api/tasks/%d/claim", task.ID), "anna", map[string]any{"version": task.Version}, http.StatusOK, nil)
	e.call("POST", fmt.Sprintf("/api/tasks/%d/cancel", task.ID), "bram", map[string]any{"version": task.Version + 1}, http.StatusForbidden, nil)
	e.call("POST", fmt.Sprintf("/api/tasks/%d/cancel", task.ID), "wall", map[string]any{"version": task.Version + 1}, http.StatusForbidden, nil)
	var lines []string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "msg=audit") && !strings.Contains(l, "action=sign-in") {
			lines = append(lines, l)
		}
	}
	want := []string{
		fmt.Sprintf(`who=anna role=agent action="task create" target=%d outcome=ok`, task.ID),
		fmt.Sprintf(`who=anna role=agent action="task claim" target=%d outcome=ok`, task.ID),
		fmt.Sprintf(`who=bram role=agent action="task cancel" target=%d outcome=forbidden`, task.ID),
		fmt.Sprintf(`who=wall role=wallboard action="task cancel" target=%d outcome=forbidden`, task.ID),
	}
	if len(lines) != len(want) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("audit line %d: %s\nwant it to contain %s", i, lines[i], w)
		}
		if strings.Contains(lines[i], "612345678") {
			t.Errorf("audit line %d holds the caller's number: %s", i, lines[i])
		}
	}
}
