// Package spool owns callmon's durable local spool: an append-only file of
// entries (finished-call records, later agreed callbacks and voicemails)
// that PostgreSQL could not take when they were made (DESIGN §5).
//
// The spool promises that an entry whose Append returned nil survives a crash
// and is handed out by Entries, in order, until the caller removes it after
// it reached the database. It does not promise "exactly once" by itself: a
// crash after the database write but before Remove replays the entry, so the
// database side must ignore a second copy (a unique Key per entry and ON
// CONFLICT DO NOTHING). The spool knows no database and no record types; Data
// is opaque JSON.
//
// On disk the spool is one file of JSON lines,
//
//	{"seq":1,"kind":"call","key":"…","data":{…}}
//
// plus two files next to it: path+".lock", held with flock while a Spool is
// open so a second process cannot write to a file that Remove is about to
// replace, and path+".tmp", which exists only while Remove rewrites the file.
package spool

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unicode/utf8"
)

// Entry is one spooled record.
type Entry struct {
	// Seq orders the entries of a spool: it grows by one per entry and
	// continues across restarts from the highest Seq in the file. Once the
	// spool has been emptied and reopened it starts again at 1, so Seq is
	// not an identity; Key is.
	Seq uint64 `json:"seq"`
	// Kind says what Data is ("call", "callback", "voicemail").
	Kind string `json:"kind"`
	// Key identifies the record in the database, where writing it twice
	// must be a no-op.
	Key string `json:"key"`
	// Data is the record as compact JSON.
	Data json.RawMessage `json:"data"`
}

// ErrClosed is returned by operations on a closed Spool.
var ErrClosed = errors.New("spool: closed")

// ErrLocked is returned by Open when another Spool, in this process or
// another, has the file open.
var ErrLocked = errors.New("spool: already open")

// CorruptError reports a line of the spool file that cannot be read. Open
// returns it for a bad line anywhere but at the end, where only a torn write
// is expected; the file is left as it was for an operator to inspect.
type CorruptError struct {
	Path string
	Line int // 1-based
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("spool: %s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Spool is an open spool file. Its methods are safe for concurrent use.
//
// After a failed write that it cannot undo, a failed fsync, or a failed
// directory sync in Remove, the file's state on disk is unknown; the Spool
// then refuses Append and Remove with an error saying so, and the caller
// must Close and Open it again (Open reads what is really there).
type Spool struct {
	path string

	mu        sync.Mutex
	f         *os.File // nil once closed
	lock      *os.File
	size      int64 // end of the last complete line; the next write goes here
	entries   []Entry
	next      uint64
	recovered int
	broken    error // set when the file's state is unknown; refuses writes
}

// Open opens the spool at path, creating its directory (0700) and the file
// (0600) when missing, and reads the entries already in it.
//
// A last line that is not valid JSON is what a crash in the middle of a write
// leaves behind; that write never returned, so no caller was told the entry
// was kept. Open cuts it off and reports its size through Recovered. A bad
// line before the last one, or a last line that is valid JSON but not a valid
// entry, is not a torn write: Open returns a *CorruptError naming file and
// line and changes nothing.
//
// A leftover path+".tmp" (a Remove interrupted before its rename) is deleted:
// until the rename the old file is the spool.
func Open(path string) (*Spool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	s, err := open(path, lock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func open(path string, lock *os.File) (*Spool, error) {
	if err := os.Remove(tempPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spool: removing interrupted rewrite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Makes the file's creation and the temp file's removal durable, so an
	// entry appended later cannot be lost with a directory entry.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	s := &Spool{path: path, f: f, lock: lock}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// load reads the file into s and repairs its end.
func (s *Spool) load() error {
	buf, err := io.ReadAll(s.f)
	if err != nil {
		return fmt.Errorf("spool: reading %s: %w", s.path, err)
	}
	var off int64
	for n := 1; len(buf) > 0; n++ {
		line, rest, terminated := bytes.Cut(buf, []byte{'\n'})
		last := len(rest) == 0
		if last && !json.Valid(line) {
			// A torn write: cut it off.
			s.recovered = len(buf)
			if err := s.f.Truncate(off); err != nil {
				return fmt.Errorf("spool: cutting torn last line of %s: %w", s.path, err)
			}
			if err := s.f.Sync(); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			break
		}
		e, err := decode(line, s.next)
		if err != nil {
			return &CorruptError{Path: s.path, Line: n, Err: err}
		}
		if !terminated {
			// The crash fell between the line and its newline: the entry is
			// whole, so keep it and finish the line.
			if _, err := s.f.WriteAt([]byte{'\n'}, off+int64(len(line))); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			if err := s.f.Sync(); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
		s.entries = append(s.entries, e)
		s.next = e.Seq
		off += int64(len(line)) + 1
		buf = rest
	}
	s.size = off
	s.next++
	return nil
}

// decode parses one line that holds valid JSON; prev is the Seq before it.
func decode(line []byte, prev uint64) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, err
	}
	switch {
	case e.Seq <= prev:
		return Entry{}, fmt.Errorf("seq %d does not follow %d", e.Seq, prev)
	case e.Kind == "":
		return Entry{}, errors.New("no kind")
	case e.Key == "":
		return Entry{}, errors.New("no key")
	case e.Data == nil:
		return Entry{}, errors.New("no data")
	}
	return e, nil
}

// Recovered is the number of bytes Open cut off the end of the file because
// they were a torn write (0 when the file was whole). Callers should log it.
func (s *Spool) Recovered() int { return s.recovered }

// Path is the spool file's path.
func (s *Spool) Path() string { return s.path }

// Append adds one entry and returns its Seq once it is on stable storage.
// data must be valid JSON; it is stored compacted.
func (s *Spool) Append(kind, key string, data []byte) (uint64, error) {
	e := []Entry{{Kind: kind, Key: key, Data: data}}
	if err := s.AppendBatch(e); err != nil {
		return 0, err
	}
	return e[0].Seq, nil
}

// AppendBatch adds entries with one write and one fsync, all or none: if one
// is invalid nothing is written. It sets the Seq of each element of entries;
// the Seq given is ignored.
func (s *Spool) AppendBatch(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	kept := make([]Entry, len(entries))
	for i, e := range entries {
		c, err := clean(e)
		if err != nil {
			return err
		}
		kept[i] = c
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	for i := range kept {
		kept[i].Seq = s.next + uint64(i)
		if err := enc.Encode(kept[i]); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	if _, err := s.f.WriteAt(buf.Bytes(), s.size); err != nil {
		// A short write must not stay in front of the next line, which
		// would make this one a corrupt line in the middle.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = terr
		}
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages
		// and cleared the error, so a later fsync would lie: stop writing.
		// The entries may still be on disk and come back on Open; the
		// database ignores a second copy.
		s.broken = err
		return fmt.Errorf("spool: %w", err)
	}
	s.size += int64(buf.Len())
	s.next += uint64(len(kept))
	s.entries = append(s.entries, kept...)
	for i := range entries {
		entries[i].Seq = kept[i].Seq
	}
	return nil
}

// clean checks e and returns it with compact, private Data.
func clean(e Entry) (Entry, error) {
	// The key decides whether the database already has the record, so it
	// must read back exactly as given; JSON would replace invalid UTF-8.
	switch {
	case e.Kind == "" || !utf8.ValidString(e.Kind):
		return Entry{}, fmt.Errorf("spool: kind %q: must be non-empty UTF-8", e.Kind)
	case e.Key == "" || !utf8.ValidString(e.Key):
		return Entry{}, fmt.Errorf("spool: key %q of %s: must be non-empty UTF-8", e.Key, e.Kind)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, e.Data); err != nil {
		return Entry{}, fmt.Errorf("spool: data of %s %q is not valid JSON: %w", e.Kind, e.Key, err)
	}
	e.Data = data.Bytes()
	return e, nil
}

// newEncoder writes entries exactly as they are held in memory, so an entry
// reads back from the file byte for byte as Entries gave it before.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func (s *Spool) writable() error {
	if s.f == nil {
		return ErrClosed
	}
	if s.broken != nil {
		return fmt.Errorf("spool: %s unusable after an earlier failure, reopen it: %w", s.path, s.broken)
	}
	return nil
}

// Len is the number of entries in the spool.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Entries returns a copy of the entries in Seq order.
func (s *Spool) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		e.Data = slices.Clone(e.Data)
		out[i] = e
	}
	return out
}

// Remove drops the entries with Seq <= upTo, which the caller has written to
// the database. It writes the remaining entries to path+".tmp", fsyncs it,
// renames it over the spool and fsyncs the directory, so a crash at any point
// leaves either the old file or the new one.
func (s *Spool) Remove(upTo uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	n, _ := slices.BinarySearchFunc(s.entries, upTo+1, func(e Entry, seq uint64) int {
		return cmp.Compare(e.Seq, seq)
	})
	if n == 0 {
		return nil
	}
	rest := s.entries[n:]

	var buf bytes.Buffer
	enc := newEncoder(&buf)
	for _, e := range rest {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	tmp := tempPath(s.path)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("spool: rewriting %s: %w", s.path, err)
	}

	// The path now names the new file: append to it from here on, or
	// entries would go to the old, unlinked one.
	s.f.Close()
	s.f = f
	s.size = int64(buf.Len())
	s.entries = slices.Clone(rest)
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		// Until the rename is durable a crash may bring back the old file,
		// and with it lose entries appended to the new one.
		s.broken = err
		return err
	}
	return nil
}

// Close closes the spool; the entries stay in the file. Closing twice is
// harmless.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	// Closing the lock file releases the lock, after the spool file.
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func tempPath(path string) string { return path + ".tmp" }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: syncing directory %s: %w", dir, err)
	}
	return nil
}
