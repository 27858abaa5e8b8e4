package metrics

import (
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// The text exposition format (version 0.0.4) of the per-queue series,
// written byte for byte as expfmt writes them, but from label text built
// once per series instead of label pairs checked and escaped per line.

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// appendFloat formats f as expfmt does.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendLine(b []byte, name, labels, extra string, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, labels...)
	if extra != "" {
		b = append(b, ',')
		b = append(b, extra...)
	}
	b = append(b, "} "...)
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendText appends the per-queue families of s, each family's series
// together as the format requires; keep decides per family name.
func (c *queueCollector) appendText(b []byte, s *scrape, keep func(string) bool) []byte {
	if len(s.samples) < samplesPerQueue {
		return b
	}
	// Every queue emits its samples in the same order; the first queue's
	// give each family's positions.
	c.layoutOnce.Do(func() {
		for i, smp := range s.samples[:samplesPerQueue] {
			k := slices.IndexFunc(c.layout, func(l textFamily) bool { return l.f == smp.fam })
			if k < 0 {
				c.layout = append(c.layout, textFamily{f: smp.fam})
				k = len(c.layout) - 1
			}
			c.layout[k].at = append(c.layout[k].at, i)
		}
	})
	for _, l := range c.layout {
		f := l.f
		if keep != nil && !keep(f.name) {
			continue
		}
		b = append(b, f.header...)
		for q := 0; q+samplesPerQueue <= len(s.samples); q += samplesPerQueue {
			for _, i := range l.at {
				smp := &s.samples[q+i]
				if f.typ != dto.MetricType_HISTOGRAM {
					b = appendLine(b, f.name, smp.labels.text, "", smp.value)
					continue
				}
				for j, le := range c.le {
					b = appendLine(b, f.bucketName, smp.labels.text, le, float64(smp.counts[j]))
				}
				n := float64(smp.counts[len(c.le)])
				b = appendLine(b, f.bucketName, smp.labels.text, `le="+Inf"`, n)
				b = appendLine(b, f.sumName, smp.labels.text, "", smp.value)
				b = appendLine(b, f.cntName, smp.labels.text, "", n)
			}
		}
	}
	return b
}

// textFamily is where a family's samples lie in each queue's block.
type textFamily struct {
	f  *family
	at []int
}
