// Package ari is callmon's side of the Asterisk REST Interface: it owns the
// events websocket (its own reader, not ari/v5's bus), dispatches every event
// to the call it belongs to, and runs the call flows (queue calls, automatic
// callbacks) that decide what Asterisk does next. It measures nothing itself:
// every wait is reported to package metrics with Asterisk's own event
// timestamps.
//
// Agents' presence is held here, in memory, and kept beyond the process
// through a PresenceStore (presence.go) that the daemon backs with
// PostgreSQL.
//
// It must not touch PostgreSQL directly, and it never uses ari/v5's event bus
// (see DESIGN §2.1): ari/v5 is used for its types, DecodeEvent and the REST
// client only.
package ari
