package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCrashedSpool writes a spool, then leaves its file as a crash could:
// cut anywhere (a torn write), or with bytes after its last whole line
// (garbage, zeros, a partial batch). Open must then hand out every whole
// record once, in order, and cut a torn tail off instead of failing; a bad
// line that is not at the tail is a CorruptError naming a line after the
// whole records, and leaves the file as it was. Appending after recovery
// and opening again neither loses nor repeats a record.
func FuzzCrashedSpool(f *testing.F) {
	f.Add(uint8(3), uint8(1), "c", `{"a":1}`, uint32(1000), []byte(nil))
	f.Add(uint8(4), uint8(2), "vm", `"x"`, uint32(57), []byte(nil))
	f.Add(uint8(2), uint8(0), "k", `{}`, uint32(1<<31), []byte("\x00\x00\x00\x00"))
	f.Add(uint8(2), uint8(2), "k", `[1,2]`, uint32(1<<31), []byte(`{"seq":3,"kind":"call","key":"c3","da`))
	f.Add(uint8(1), uint8(1), "k", `null`, uint32(1<<31), []byte("{\"seq\":3,\x00\x00\x00\n"))
	f.Add(uint8(1), uint8(0), "k", `1`, uint32(1<<31), []byte(`{"seq":2,"kind":"call","key":"c2","data":{}}`))
	f.Add(uint8(2), uint8(1), "k", `{}`, uint32(1<<31), []byte("junk\n{\"seq\":9}\n"))
	f.Fuzz(func(t *testing.T, n, batch uint8, key, data string, cut uint32, garbage []byte) {
		n = 1 + n%8
		path := filepath.Join(t.TempDir(), "spool.jsonl")
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var want []Entry
		var es []Entry
		for i := range int(n) {
			es = append(es, Entry{Kind: "call", Key: fmt.Sprintf("%s-%d", key, i), Data: json.RawMessage(data)})
		}
		// The first batch%n entries in one AppendBatch, the rest one by one.
		first := int(batch) % int(n)
		if err := s.AppendBatch(es[:first]); err != nil {
			s.Close()
			return // an invalid key or data: refused before anything was written
		}
		want = append(want, es[:first]...)
		for _, e := range es[first:] {
			seq, err := s.Append(e.Kind, e.Key, e.Data)
			if err != nil {
				s.Close()
				return // invalid key or data
			}
			e.Seq = seq
			want = append(want, e)
		}
		want = s.Entries()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		whole, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}

		// Crash: the file is cut at c; with garbage, at the end of the last
		// whole line before c, and the garbage follows.
		c := int(uint64(cut) % uint64(len(whole)+1))
		kept := 0 // whole records in whole[:c]
		end := 0  // where the line of the last of them ends (after its newline)
		for off := 0; kept < len(want); kept++ {
			nl := bytes.IndexByte(whole[off:], '\n')
			if off+nl > c {
				break
			}
			off += nl + 1
			end = off
		}
		crashed := whole[:c]
		if len(garbage) > 0 {
			crashed = append(bytes.Clone(whole[:end]), garbage...)
		}
		if err := os.WriteFile(path, crashed, 0o600); err != nil {
			t.Fatal(err)
		}

		s, err = Open(path)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open after a crash: %v, not a CorruptError", err)
			}
			if len(garbage) == 0 {
				t.Fatalf("Open refused a file cut at %d of %d: %v", c, len(whole), err)
			}
			if ce.Line <= kept || ce.Path != path {
				t.Fatalf("CorruptError %v blames line %d of %s; the first %d lines are whole records", err, ce.Line, ce.Path, kept)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, crashed) {
				t.Fatalf("Open changed a corrupt file:\n%q\nwas\n%q", after, crashed)
			}
			return
		}
		defer s.Close()
		got := s.Entries()
		if len(got) < kept || (len(garbage) == 0 && len(got) != kept) {
			t.Fatalf("after a crash at %d of %d bytes: %d entries, want %d", c, len(whole), len(got), kept)
		}
		for i := range kept {
			if !equalEntry(got[i], want[i]) {
				t.Fatalf("entry %d is %s, want %s", i, dump(got[i:i+1]), dump(want[i:i+1]))
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("seq %d after %d", got[i].Seq, got[i-1].Seq)
			}
		}
		if len(garbage) == 0 && s.Recovered() != c-end && !(c == len(whole)) {
			// A whole last line without its newline is kept, not recovered.
			if !(c == end-1 && kept > 0) {
				t.Fatalf("Recovered %d, want %d", s.Recovered(), c-end)
			}
		}

		seq, err := s.Append("call", "after", []byte(`{}`))
		if err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		if len(got) > 0 && seq <= got[len(got)-1].Seq {
			t.Fatalf("Append after recovery: seq %d after %d", seq, got[len(got)-1].Seq)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		again := s.Entries()
		if s.Recovered() != 0 || len(again) != len(got)+1 {
			t.Fatalf("second Open: %d entries (recovered %d), want %d", len(again), s.Recovered(), len(got)+1)
		}
		for i := range got {
			if !equalEntry(again[i], got[i]) {
				t.Fatalf("second Open: entry %d is %s, want %s", i, dump(again[i:i+1]), dump(got[i:i+1]))
			}
		}
		if last := again[len(again)-1]; last.Key != "after" || last.Seq != seq {
			t.Fatalf("second Open: last entry %s, want key after, seq %d", dump(again[len(again)-1:]), seq)
		}
	})
}
