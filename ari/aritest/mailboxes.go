package aritest

import (
	"net/http"
	"slices"
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

// updateMailbox is PUT /mailboxes/{name}?oldMessages=&newMessages=: creates or replaces the
// counts (a missing count is 0, as Asterisk's generated handler reads it).
func (s *Server) updateMailbox(q *request) reply {
	s.mailboxes[q.path("name")] = mailbox{
		old: q.params.integer("oldMessages", 0),
		new: q.params.integer("newMessages", 0),
	}
	return noContent
}

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
