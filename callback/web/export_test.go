package web

// Listening is closed once the server listens for task changes: a change
// committed after that reaches every subscribed page.
func Listening(s *Server) <-chan struct{} { return s.broker.listening }

// Subscribers is the number of open event streams.
func Subscribers(s *Server) int { return s.broker.count() }
