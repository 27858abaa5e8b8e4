package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func spoolPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "var", "callmon", "spool.jsonl")
}

func mustOpen(t *testing.T, path string) *Spool {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s *Spool, kind, key, data string) uint64 {
	t.Helper()
	seq, err := s.Append(kind, key, []byte(data))
	if err != nil {
		t.Fatalf("Append(%q, %q): %v", kind, key, err)
	}
	return seq
}

func mustClose(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// reopen closes s and opens its file again.
func reopen(t *testing.T, s *Spool) *Spool {
	t.Helper()
	mustClose(t, s)
	return mustOpen(t, s.Path())
}

func keys(es []Entry) []string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

func seqs(es []Entry) []uint64 {
	var ss []uint64
	for _, e := range es {
		ss = append(ss, e.Seq)
	}
	return ss
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	path := spoolPath(t)
	s := mustOpen(t, path)
	if s.Path() != path || s.Len() != 0 || s.Recovered() != 0 {
		t.Fatalf("new spool: path %q len %d recovered %d", s.Path(), s.Len(), s.Recovered())
	}
	for name, want := range map[string]os.FileMode{
		filepath.Dir(path): os.ModeDir | 0o700,
		path:               0o600,
		path + ".lock":     0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
}

func TestAppendReopenKeepsEntriesInOrder(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	mustAppend(t, s, "call", "c1", `{"queue":"sales","wait":12.5}`)
	// Indented input with a newline inside and HTML characters: stored as
	// one compact line and read back byte for byte.
	mustAppend(t, s, "callback", "cb1", "{\n  \"note\": \"<b>&</b>\",\n  \"n\": [1, 2]\n}")
	if seq := mustAppend(t, s, "voicemail", "vm1", `"rec-1"`); seq != 3 {
		t.Errorf("third Append: seq %d, want 3", seq)
	}
	want := []Entry{
		{Seq: 1, Kind: "call", Key: "c1", Data: json.RawMessage(`{"queue":"sales","wait":12.5}`)},
		{Seq: 2, Kind: "callback", Key: "cb1", Data: json.RawMessage(`{"note":"<b>&</b>","n":[1,2]}`)},
		{Seq: 3, Kind: "voicemail", Key: "vm1", Data: json.RawMessage(`"rec-1"`)},
	}
	check := func(s *Spool) {
		t.Helper()
		got := s.Entries()
		if !slices.EqualFunc(got, want, equalEntry) {
			t.Fatalf("Entries:\n got %s\nwant %s", dump(got), dump(want))
		}
		if s.Len() != len(want) {
			t.Fatalf("Len %d, want %d", s.Len(), len(want))
		}
	}
	check(s)
	if n := bytes.Count(readFile(t, s.Path()), []byte("\n")); n != 3 {
		t.Errorf("file has %d lines, want 3", n)
	}

	s = reopen(t, s)
	check(s)
	if s.Recovered() != 0 {
		t.Errorf("Recovered %d after a clean close", s.Recovered())
	}
	if seq := mustAppend(t, s, "call", "c2", `{}`); seq != 4 {
		t.Errorf("Append after reopen: seq %d, want 4", seq)
	}
}

func TestEntriesIsACopy(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	data := []byte(`{"a":1}`)
	mustAppend(t, s, "call", "c1", string(data))
	s.Entries()[0].Data[2] = 'X'
	if got := string(s.Entries()[0].Data); got != `{"a":1}` {
		t.Errorf("Data changed through a snapshot: %s", got)
	}
}

func equalEntry(a, b Entry) bool {
	return a.Seq == b.Seq && a.Kind == b.Kind && a.Key == b.Key && bytes.Equal(a.Data, b.Data)
}

func dump(es []Entry) string {
	b, _ := json.Marshal(es)
	return string(b)
}

func TestConcurrentAppends(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				if i%5 == 0 {
					batch := []Entry{{Kind: "call", Key: key + "a", Data: []byte(`1`)}, {Kind: "call", Key: key + "b", Data: []byte(`2`)}}
					if err := s.AppendBatch(batch); err != nil {
						t.Error(err)
					}
					if batch[1].Seq != batch[0].Seq+1 {
						t.Errorf("batch seqs %d, %d not consecutive", batch[0].Seq, batch[1].Seq)
					}
					continue
				}
				if _, err := s.Append("call", key, []byte(`{"i":0}`)); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() { _ = s.Entries(); _ = s.Len() })
	}
	wg.Wait()

	const total = writers * (each + each/5)
	check := func(s *Spool) {
		t.Helper()
		es := s.Entries()
		if len(es) != total {
			t.Fatalf("%d entries, want %d", len(es), total)
		}
		for i, e := range es {
			if e.Seq != uint64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
		}
		ks := keys(es)
		slices.Sort(ks)
		if n := len(slices.Compact(ks)); n != total {
			t.Fatalf("%d distinct keys, want %d", n, total)
		}
	}
	check(s)
	check(reopen(t, s))
}

func TestRemove(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	for i := range 5 {
		mustAppend(t, s, "call", fmt.Sprintf("c%d", i+1), `{}`)
	}

	if err := s.Remove(0); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 {
		t.Fatalf("Remove(0) left %d entries", s.Len())
	}

	if err := s.Remove(2); err != nil {
		t.Fatal(err)
	}
	if got := seqs(s.Entries()); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("after Remove(2): seqs %v", got)
	}
	// Appends go to the new file, not the one the rename unlinked.
	if seq := mustAppend(t, s, "call", "c6", `{}`); seq != 6 {
		t.Errorf("Append after Remove: seq %d, want 6", seq)
	}

	s = reopen(t, s)
	if got := keys(s.Entries()); !slices.Equal(got, []string{"c3", "c4", "c5", "c6"}) {
		t.Fatalf("after reopen: keys %v", got)
	}
	if seq := mustAppend(t, s, "call", "c7", `{}`); seq != 7 {
		t.Errorf("Append after reopen: seq %d, want 7", seq)
	}

	if err := s.Remove(100); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatalf("Remove(100) left %d entries", s.Len())
	}
	if seq := mustAppend(t, s, "call", "c8", `{}`); seq != 8 {
		t.Errorf("Append after removing all: seq %d, want 8", seq)
	}
	if err := s.Remove(8); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if s.Len() != 0 || len(readFile(t, s.Path())) != 0 {
		t.Fatalf("after removing all and reopening: %d entries, file %q", s.Len(), readFile(t, s.Path()))
	}
	if _, err := os.Stat(s.Path() + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left behind: %v", err)
	}
	// An emptied spool starts again at 1 (Seq orders, Key identifies).
	if seq := mustAppend(t, s, "call", "c9", `{}`); seq != 1 {
		t.Errorf("Append to an emptied, reopened spool: seq %d, want 1", seq)
	}
}

func TestTornLastLineIsCutOff(t *testing.T) {
	for _, tc := range []struct{ name, tail string }{
		{"partial line", `{"seq":3,"kind":"call","key":"c3","da`},
		{"zeros", "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"partial line ending in newline", "{\"seq\":3,\x00\x00\x00\n"},
		{"empty line", "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, spoolPath(t))
			mustAppend(t, s, "call", "c1", `{}`)
			mustAppend(t, s, "call", "c2", `{}`)
			mustClose(t, s)
			whole := readFile(t, s.Path())
			appendFile(t, s.Path(), tc.tail)

			s = mustOpen(t, s.Path())
			if s.Recovered() != len(tc.tail) {
				t.Errorf("Recovered %d, want %d", s.Recovered(), len(tc.tail))
			}
			if got := keys(s.Entries()); !slices.Equal(got, []string{"c1", "c2"}) {
				t.Fatalf("keys %v", got)
			}
			if got := readFile(t, s.Path()); !bytes.Equal(got, whole) {
				t.Fatalf("file after recovery:\n%q\nwant\n%q", got, whole)
			}
			if seq := mustAppend(t, s, "call", "c3", `{}`); seq != 3 {
				t.Errorf("Append after recovery: seq %d, want 3", seq)
			}
			s = reopen(t, s)
			if s.Recovered() != 0 || s.Len() != 3 {
				t.Errorf("second reopen: recovered %d, len %d", s.Recovered(), s.Len())
			}
		})
	}
}

// A crash between a line and its newline leaves a whole entry: keep it.
func TestUnterminatedWholeLastLineIsKept(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	mustAppend(t, s, "call", "c1", `{}`)
	mustClose(t, s)
	appendFile(t, s.Path(), `{"seq":2,"kind":"call","key":"c2","data":{}}`)

	s = mustOpen(t, s.Path())
	if s.Recovered() != 0 {
		t.Errorf("Recovered %d, want 0", s.Recovered())
	}
	mustAppend(t, s, "call", "c3", `{}`)
	s = reopen(t, s)
	if got := keys(s.Entries()); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("keys %v", got)
	}
}

func TestCorruptLineIsAnError(t *testing.T) {
	good := func(seq int) string {
		return fmt.Sprintf(`{"seq":%d,"kind":"call","key":"c%d","data":{}}`+"\n", seq, seq)
	}
	for _, tc := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"garbage in the middle", good(1) + "garbage\n" + good(3), 2, "invalid character"},
		{"torn line in the middle", good(1) + good(2) + `{"seq":3,"ki` + "\n" + good(4), 3, "unexpected end"},
		{"empty line in the middle", good(1) + "\n" + good(2), 2, "unexpected end"},
		// Valid JSON is no torn write, even at the end.
		{"seq going back", good(1) + good(2) + good(2), 3, "seq 2 does not follow 2"},
		{"no key", good(1) + `{"seq":2,"kind":"call","data":{}}` + "\n", 2, "no key"},
		{"no data", `{"seq":1,"kind":"call","key":"c1"}` + "\n" + good(2), 1, "no data"},
		{"not an object", good(1) + "[1,2]\n", 2, "cannot unmarshal array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := spoolPath(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Line != tc.line {
				t.Fatalf("error %v (%T), want a CorruptError for line %d", err, err, tc.line)
			}
			if want := fmt.Sprintf("%s:%d: ", path, tc.line); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to name %q and say %q", err, want, tc.msg)
			}
			if tc.line == 2 && tc.msg == "invalid character" {
				var se *json.SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("error %v does not wrap the *json.SyntaxError", err)
				}
			}
			if got := string(readFile(t, path)); got != tc.file {
				t.Errorf("Open changed the corrupt file:\n%q", got)
			}
			// The lock is released, so the operator's fix can be retried.
			if err := os.WriteFile(path, []byte(good(1)), 0o600); err != nil {
				t.Fatal(err)
			}
			mustOpen(t, path)
		})
	}
}

func TestInvalidEntriesAreRejected(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	mustAppend(t, s, "call", "c1", `{}`)
	before := readFile(t, s.Path())
	for _, tc := range []struct{ name, kind, key, data, msg string }{
		{"invalid JSON", "call", "c2", `{"queue":`, "not valid JSON"},
		{"two values", "call", "c2", `{} {}`, "not valid JSON"},
		{"empty data", "call", "c2", ``, "not valid JSON"},
		{"no kind", "", "c2", `{}`, "kind"},
		{"no key", "call", "", `{}`, "key"},
		{"key not UTF-8", "call", "c\xff", `{}`, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(tc.kind, tc.key, []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Append: error %v, want one saying %q", err, tc.msg)
			}
		})
	}
	// One bad entry keeps the whole batch out.
	err := s.AppendBatch([]Entry{
		{Kind: "call", Key: "c2", Data: []byte(`{}`)},
		{Kind: "call", Key: "c3", Data: []byte(`nope`)},
	})
	if err == nil {
		t.Fatal("AppendBatch with an invalid entry succeeded")
	}
	if s.Len() != 1 || !bytes.Equal(readFile(t, s.Path()), before) {
		t.Fatalf("rejected entries changed the spool: len %d", s.Len())
	}
	if seq := mustAppend(t, s, "call", "c2", `{}`); seq != 2 {
		t.Errorf("Append after rejections: seq %d, want 2", seq)
	}
}

// A crash after Remove wrote its temp file but before the rename leaves the
// old file and a stray temp file. The old file is the spool: nothing is lost,
// the removed entries come back (the database ignores them) and nothing from
// the temp file is added twice.
func TestInterruptedRemove(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	for i := range 4 {
		mustAppend(t, s, "call", fmt.Sprintf("c%d", i+1), `{}`)
	}
	mustClose(t, s)
	stray := `{"seq":3,"kind":"call","key":"c3","data":{}}` + "\n" + `{"seq":4,"kind":"call","key":"c4","da`
	if err := os.WriteFile(s.Path()+".tmp", []byte(stray), 0o600); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, s.Path())
	if got := keys(s.Entries()); !slices.Equal(got, []string{"c1", "c2", "c3", "c4"}) {
		t.Fatalf("keys %v", got)
	}
	if _, err := os.Stat(s.Path() + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stray temp file not removed: %v", err)
	}
	// The retried Remove works and its result survives a reopen.
	if err := s.Remove(2); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if got := keys(s.Entries()); !slices.Equal(got, []string{"c3", "c4"}) {
		t.Fatalf("after retried Remove: keys %v", got)
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	mustAppend(t, s, "call", "c1", `{}`)
	mustClose(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Append("call", "c2", []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := s.AppendBatch([]Entry{{Kind: "call", Key: "c2", Data: []byte(`{}`)}}); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendBatch after Close: %v, want ErrClosed", err)
	}
	if err := s.Remove(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v, want ErrClosed", err)
	}
	if s.Len() != 1 {
		t.Errorf("Len after Close: %d", s.Len())
	}
}

// Two Spools on one file would lose entries: Remove renames a new file over
// the one the other still appends to.
func TestOpenTwiceIsRefused(t *testing.T) {
	path := spoolPath(t)
	s := mustOpen(t, path)
	if s2, err := Open(path); !errors.Is(err, ErrLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	mustClose(t, s)
	mustOpen(t, path)
}

// After a write or fsync error whose effect on the file is unknown the spool
// refuses to write until it is reopened; what it acknowledged stays.
func TestFailedWriteMakesSpoolUnusable(t *testing.T) {
	s := mustOpen(t, spoolPath(t))
	mustAppend(t, s, "call", "c1", `{}`)
	// A read-only handle makes both the write and the truncate that
	// undoes a short write fail.
	ro, err := os.Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	rw := s.f
	s.f = ro
	s.mu.Unlock()
	rw.Close()

	if _, err := s.Append("call", "c2", []byte(`{}`)); err == nil {
		t.Fatal("Append through a read-only handle succeeded")
	}
	for name, err := range map[string]error{
		"Append": func() error { _, err := s.Append("call", "c3", []byte(`{}`)); return err }(),
		"Remove": s.Remove(1),
	} {
		if err == nil || !strings.Contains(err.Error(), "reopen") {
			t.Errorf("%s after a failed write: %v, want the spool unusable", name, err)
		}
	}
	s = reopen(t, s)
	if got := keys(s.Entries()); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("after reopen: keys %v", got)
	}
	mustAppend(t, s, "call", "c2", `{}`)
}

// TestKilledWriter kills a process that appends as fast as it can and checks
// that every entry it had acknowledged is in the spool afterwards, and that
// the kernel released its lock. (A kill keeps the page cache; power loss is
// what the fsyncs are for, and no test here can cut the power.)
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv("SPOOL_TEST_WRITER"); path != "" {
		s, err := Open(path)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			seq, err := s.Append("call", fmt.Sprintf("k%d", i), []byte(`{"n":1}`))
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println(seq)
		}
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := spoolPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), "SPOOL_TEST_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked uint64
	sc := bufio.NewScanner(out)
	for acked < 200 && sc.Scan() {
		n, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("writer: %s", sc.Text())
		}
		acked = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if acked < 200 {
		t.Fatalf("writer stopped after %d entries", acked)
	}

	s := mustOpen(t, path)
	es := s.Entries()
	if uint64(len(es)) < acked {
		t.Fatalf("%d entries after the kill, but %d were acknowledged", len(es), acked)
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) || e.Key != fmt.Sprintf("k%d", i) {
			t.Fatalf("entry %d: seq %d key %q", i, e.Seq, e.Key)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "spool.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"queue":"sales","kind":"inbound","caller":"+31201234567","entered":"2026-11-23T09:00:00Z","answered":"2026-11-23T09:00:42Z","ended":"2026-11-23T09:05:00Z","wait":42.1,"outcome":"answered","agent":"1001"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append("call", "1700000000.42", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBatch10(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "spool.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]Entry, 10)
	for i := range batch {
		batch[i] = Entry{Kind: "call", Key: fmt.Sprintf("1700000000.%d", i), Data: []byte(`{"queue":"sales","wait":42.1,"outcome":"answered"}`)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}
