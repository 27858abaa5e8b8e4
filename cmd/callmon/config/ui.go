package config

import "gopkg.in/yaml.v3"

// UI is how callmon's own pages speak to people.
type UI struct {
	// Language is nl (the default), en, or auto (the browser's Accept-Language); a switch on
	// every page overrides it per person, remembered in a cookie.
	Language string
}

func (b *builder) ui(v *yaml.Node) {
	b.mapping(v, "ui", []field{
		{name: "language", set: func(v *yaml.Node) {
			if l, ok := b.scalar("language", v); ok {
				switch l {
				case "nl", "en", "auto":
					b.cfg.UI.Language = l
				default:
					b.fail(v, "write nl, en or auto", "language: %q is not one of the pages' languages", l)
				}
			}
		}},
	})
}
