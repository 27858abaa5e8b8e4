package metrics

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Registry is callmon's Prometheus registry. It gathers every series like
// any registry. Its Handler serves them at /metrics and writes the per-queue
// series (nearly all of them: 172 per queue) itself in the text format,
// for about a tenth of the CPU the registry and expfmt take for them. For that it keeps a second registry with every collector but the
// per-queue one: a collector registered here is registered in both.
type Registry struct {
	*prometheus.Registry // every series
	rest                 *prometheus.Registry
	queues               *queueCollector // set by New
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{Registry: prometheus.NewRegistry(), rest: prometheus.NewRegistry()}
}

// Register registers c in both parts, or in neither.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	if err := r.rest.Register(c); err != nil {
		r.Registry.Unregister(c)
		return err
	}
	return nil
}

// MustRegister registers the collectors and panics on an error.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister removes c from both parts.
func (r *Registry) Unregister(c prometheus.Collector) bool {
	r.rest.Unregister(c)
	return r.Registry.Unregister(c)
}

// Handler serves the registry as promhttp.HandlerFor(r, opts) does, with
// only the families keep accepts (nil: all). A request for the text format,
// uncompressed or gzip, without a name filter (what Prometheus asks for
// unless it wants native histograms) is answered from the rest of the
// registry encoded by expfmt followed by the per-queue series written here;
// any other request, and any gathering error, goes to promhttp.
func (r *Registry) Handler(keep func(family string) bool, opts promhttp.HandlerOpts) http.Handler {
	all := prometheus.Gatherer(r.Registry)
	rest := prometheus.Gatherer(r.rest)
	if keep != nil {
		all, rest = keepGatherer{all, keep}, keepGatherer{rest, keep}
	}
	h := &handler{
		queues:   r.queues,
		rest:     rest,
		keep:     keep,
		fallback: promhttp.HandlerFor(all, opts),
		errLog:   opts.ErrorLog,
	}
	// Only the options callmon uses are handled here; others, promhttp.
	h.fast = opts.ErrorHandling == promhttp.HTTPErrorOnError && !opts.DisableCompression &&
		opts.OfferedCompressions == nil && opts.MaxRequestsInFlight == 0 && !opts.CoalesceGather &&
		opts.Timeout == 0 && !opts.EnableOpenMetrics && opts.ProcessStartTime.IsZero() && opts.AcceptedFormats == nil
	return h
}

type handler struct {
	queues   *queueCollector
	rest     prometheus.Gatherer
	keep     func(string) bool
	fallback http.Handler
	fast     bool
	errLog   promhttp.Logger
}

var (
	textFormats = expfmt.DefaultAcceptedFormats()
	// Gzip at its fastest level: a third of the default's CPU for a body
	// about a tenth larger.
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	scrapes = sync.Pool{New: func() any { return &textScrape{} }}
)

// textScrape is what a text scrape reuses: the samples and the output.
type textScrape struct {
	s   scrape
	out []byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	format := expfmt.NegotiateAccept(req.Header, textFormats...)
	enc := req.Header.Get("Accept-Encoding")
	if !h.fast || format.FormatType() != expfmt.TypeTextPlain || (enc != "" && enc != "gzip") ||
		(req.URL != nil && req.URL.RawQuery != "") {
		h.fallback.ServeHTTP(w, req)
		return
	}
	mfs, err := h.rest.Gather()
	if err != nil {
		h.fallback.ServeHTTP(w, req) // reports and counts the error
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", string(format))
	var out io.Writer = w
	if enc == "gzip" {
		hdr.Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() {
			gz.Close()
			gzipWriters.Put(gz)
		}()
		out = gz
	}
	e := expfmt.NewEncoder(out, format)
	for _, mf := range mfs {
		if err := e.Encode(mf); err != nil {
			h.logf("error encoding and sending metric family: %v", err)
			return
		}
	}
	if h.queues == nil {
		return
	}
	ts := scrapes.Get().(*textScrape)
	defer scrapes.Put(ts)
	h.queues.gather(&ts.s)
	ts.out = h.queues.appendText(ts.out[:0], &ts.s, h.keep)
	if _, err := out.Write(ts.out); err != nil {
		h.logf("error sending the queue series: %v", err)
	}
}

func (h *handler) logf(format string, args ...any) {
	if h.errLog != nil {
		h.errLog.Println(fmt.Sprintf(format, args...))
	}
}

// keepGatherer gathers only the families keep accepts.
type keepGatherer struct {
	g    prometheus.Gatherer
	keep func(string) bool
}

func (k keepGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := k.g.Gather()
	out := mfs[:0]
	for _, mf := range mfs {
		if k.keep(mf.GetName()) {
			out = append(out, mf)
		}
	}
	return out, err
}
