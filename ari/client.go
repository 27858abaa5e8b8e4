package ari

import (
	"callmon/ari/reststatus"
	"crypto/tls"

	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"time"
	"unsafe"

	"github.com/CyCoreSystems/ari/v5/client/native"
)

// newREST builds ari/v5's REST client with a transport sized for callmon.
//
// ari/v5 keeps a zero http.Client in an unexported field: Go's default
// transport, no timeout and two idle connections per host. Under load that
// churns connections into Asterisk's HTTP server and hits its sessionlimit
// (DESIGN §2.1), so callmon replaces the client before first use.
func newREST(url, user, password, app string, conns int, idle, timeout time.Duration, tlsCfg *tls.Config, f *fence) (*native.Client, error) {
	c := native.New(&native.Options{
		Application: app,
		URL:         url,
		Username:    user,
		Password:    password,
	})
	if conns < 4 {
		conns = 4
	}
	if idle <= 0 {
		idle = restIdleTimeout
	}
	if timeout <= 0 {
		timeout = restTimeout
	}
	hc := http.Client{
		Timeout:   timeout,
		Transport: f,
	}
	f.next = readWhole{&http.Transport{
		Proxy:               nil, // Asterisk is local infrastructure; never via a proxy.
		TLSClientConfig:     tlsCfg,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		// Below Asterisk's session_keep_alive (http.conf, default 15 s): a connection
		// Asterisk is closing as idle must not carry a POST, which Go does not retry.
		IdleConnTimeout:       idle,
		ResponseHeaderTimeout: min(10*time.Second, timeout),
	}}
	if err := setHTTPClient(c, hc); err != nil {
		return nil, err
	}
	return c, nil
}

// restTimeout bounds one REST request. A caller whose answer or hold takes
// longer is handed to the dialplan fallback (queuecall.go).
const restTimeout = 15 * time.Second

// restIdleTimeout is how long an idle REST connection is kept; see
// newREST.
const restIdleTimeout = 10 * time.Second

// maxBuffered is the largest REST response body read into memory. ARI's JSON
// answers are far smaller; only a stored recording's audio can exceed it.
const maxBuffered = 1 << 20

// readWhole reads every REST response body to its end before ari/v5 sees it.
// ari/v5 closes bodies it did not read (every call that ignores the answer,
// such as creating a bridge, and every error answer), and Go's transport then
// closes the connection instead of reusing it: about two new TCP connections
// per call, each a new HTTP session in Asterisk (issue 10). A body read to EOF
// returns its connection to the pool at once, so a body ari/v5 never closes
// cannot pin one either.
type readWhole struct{ next http.RoundTripper }

func (t readWhole) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	if resp.ContentLength > maxBuffered {
		resp.Body = &drainOnClose{ReadCloser: resp.Body}
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBuffered+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(data) > maxBuffered { // no Content-Length, and too big after all
		resp.Body = &drainOnClose{ReadCloser: resp.Body, head: bytes.NewReader(data)}
		return resp, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// drainOnClose is a body too big to buffer: closing it reads what is left,
// up to maxBuffered, so that its connection can be reused.
type drainOnClose struct {
	io.ReadCloser
	head *bytes.Reader // read before the rest, if not nil
}

func (b *drainOnClose) Read(p []byte) (int, error) {
	if b.head != nil && b.head.Len() > 0 {
		return b.head.Read(p)
	}
	return b.ReadCloser.Read(p)
}

func (b *drainOnClose) Close() error {
	_, _ = io.CopyN(io.Discard, b.ReadCloser, maxBuffered)
	return b.ReadCloser.Close()
}

func setHTTPClient(c *native.Client, hc http.Client) error {
	f := reflect.ValueOf(c).Elem().FieldByName("httpClient")
	if !f.IsValid() || f.Type() != reflect.TypeOf(hc) {
		return errors.New("ari/v5 native.Client has no httpClient field of type http.Client; check the ari/v5 version (v5.3.1 expected)")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(hc))
	return nil
}

// httpClientOf returns the client's HTTP client, for tests.
func httpClientOf(c *native.Client) http.Client {
	f := reflect.ValueOf(c).Elem().FieldByName("httpClient")
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(http.Client)
}

// gone reports whether a REST error means the resource no longer exists,
// which is normal when a caller hangs up while callmon acts on the call.
func gone(err error) bool {
	return statusOf(err) == http.StatusNotFound
}

// statusOf is the HTTP status of a failed REST request, 0 if it got none
// (timeout, connection refused). ari/v5's CodeFromError sees only an
// unwrapped error; callmon and ari/v5 (eris) wrap them.
// The Data getters wrap the request error in a type with Cause but no Unwrap
// ("Error getting data for channel …"), so the chain is followed through
// Cause too: without it a 404 from Channel().Data was not seen as gone.
func statusOf(err error) int { return reststatus.Of(err) }

// notMember reports whether a bridge add/remove failed because the channel
// is no longer there: ARI answers 400 "Channel not found" and 422 "Channel
// not in this bridge" for a caller who just hung up.
func notMember(err error) bool {
	switch statusOf(err) {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
