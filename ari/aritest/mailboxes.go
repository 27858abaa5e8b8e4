package aritest

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Mailboxes: ARI's mailboxes resource (res_stasis_mailbox over res_mwi_external), with which an
// application that keeps voicemail itself drives the phones' message-waiting indicators. The
// fake keeps the counts; no event goes to the app (Asterisk publishes MWI to the phones only).

type mailbox struct{ old, new int }

func mailboxJSON(name string, m mailbox) object {
	return object{{"name", name}, {"old_messages", m.old}, {"new_messages", m.new}}
}

func (s *Server) listMailboxes(*request) reply {
	names := make([]string, 0, len(s.mailboxes))
	for name := range s.mailboxes {
		names = append(names, name)
	}
	slices.SortFunc(names, strings.Compare)
	out := []object{}
	for _, name := range names {
		out = append(out, mailboxJSON(name, s.mailboxes[name]))
	}
	return ok(out)
}

func (s *Server) getMailbox(q *request) reply {
	name := q.path("name")
	m, found := s.mailboxes[name]
	if !found {
		return fail(http.StatusNotFound, "Mailbox is does not exist") // sic, Asterisk's words
	}
	return ok(mailboxJSON(name, m))
}

// updateMailbox is PUT /mailboxes/{name}: creates or replaces the counts. It reads them as
// Asterisk's generated handler (res_ari_mailboxes.c) does: first the query string with C's
// atoi, then a JSON body's fields with ast_json_integer_get, which is 0 for anything but a
// JSON integer. So ari/v5's {"oldMessages":"1","newMessages":"2"} is answered 204 and stored
// as 0/0 (trace mailbox-counts), and a missing count is 0. Read from the source, not
// recorded: a body field wins over the query; an integer too large for jansson fails the
// body's parse (400); counts are C ints.
func (s *Server) updateMailbox(q *request) reply {
	var counts [2]int
	for i, name := range [2]string{"oldMessages", "newMessages"} {
		if v := q.params.query[name]; len(v) > 0 {
			counts[i] = cInt(atoi(v[len(v)-1])) // every occurrence is read; the last stays
		}
		raw, inBody := q.params.body[name]
		if !inBody {
			continue
		}
		n, err := jsonInteger(raw)
		if err != nil {
			return fail(http.StatusBadRequest, "Error parsing request body")
		}
		counts[i] = cInt(n)
	}
	s.mailboxes[q.path("name")] = mailbox{old: counts[0], new: counts[1]}
	return noContent
}

// atoi is C's atoi on glibc (strtol, base 10): leading white space, a sign, the digits up to
// the first other character; 0 when there are none; clamped to a 64-bit long.
func atoi(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(s[:end], 10, 64)
	switch {
	case end == 0:
		return 0
	case err != nil || (!neg && n > math.MaxInt64):
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	case neg && n > math.MaxInt64:
		return math.MinInt64
	case neg:
		return -int64(n)
	}
	return int64(n)
}

// jsonInteger is ast_json_integer_get: a JSON integer's value, 0 for a string, real, boolean,
// null, array or object. jansson refuses to parse an integer beyond 64 bits (err).
func jsonInteger(raw json.RawMessage) (int64, error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || strings.ContainsAny(t, ".eE") || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		return 0, nil
	}
	return strconv.ParseInt(t, 10, 64)
}

// cInt is the conversion of a long to Asterisk's int argument (two's complement truncation).
func cInt(n int64) int { return int(int32(n)) }

func (s *Server) deleteMailbox(q *request) reply {
	name := q.path("name")
	if _, found := s.mailboxes[name]; !found {
		return fail(http.StatusNotFound, "Mailbox does not exist")
	}
	delete(s.mailboxes, name)
	return noContent
}

// Mailbox reports a mailbox's message counts as the app last set them (PUT /mailboxes/{name});
// ok is false if it has none (never set, or deleted).
func (s *Server) Mailbox(name string) (old, new int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mailboxes[name]
	return m.old, m.new, ok
}
