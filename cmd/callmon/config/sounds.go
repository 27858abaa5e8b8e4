package config

import (
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Sounds says where callmon's prompts are and in which language callers hear them, so that
// callmon can tell at start which are missing.
type Sounds struct {
	// Language is the channel language the site's callers have (Asterisk plays
	// sounds/<language>/...): nl or en.
	Language string
	// Dir is Asterisk's sounds directory as callmon can read it; "" skips the check (callmon
	// runs on another host).
	Dir string
}

// Default sounds settings: Dutch, Debian's Asterisk sounds directory.
const (
	DefaultSoundsLanguage = "nl"
	DefaultSoundsDir      = "/usr/share/asterisk/sounds"
)

func (b *builder) sounds(v *yaml.Node) {
	s := &b.cfg.Sounds
	b.mapping(v, "sounds", []field{
		{name: "language", set: func(v *yaml.Node) {
			if l, ok := b.scalar("language", v); ok {
				if l != "nl" && l != "en" {
					b.fail(v, "write nl or en", "language: %q is not a language callmon has prompts in", l)
					return
				}
				s.Language = l
			}
		}},
		{name: "dir", set: func(v *yaml.Node) {
			if d, ok := b.scalar("dir", v); ok {
				if d != "" && !filepath.IsAbs(d) {
					d = filepath.Join(b.dir, d)
				}
				s.Dir = d
			}
		}},
	})
}
