package ari

import (
	"errors"
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
func newREST(url, user, password, app string, conns int) (*native.Client, error) {
	c := native.New(&native.Options{
		Application: app,
		URL:         url,
		Username:    user,
		Password:    password,
	})
	if conns < 4 {
		conns = 4
	}
	hc := http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil, // Asterisk is local infrastructure; never via a proxy.
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          conns,
			MaxIdleConnsPerHost:   conns,
			MaxConnsPerHost:       conns,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
		},
	}
	if err := setHTTPClient(c, hc); err != nil {
		return nil, err
	}
	return c, nil
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
	return native.CodeFromError(err) == http.StatusNotFound
}

// notMember reports whether a bridge add/remove failed because the channel
// is no longer there: ARI answers 400 "Channel not found" and 422 "Channel
// not in this bridge" for a caller who just hung up.
func notMember(err error) bool {
	switch native.CodeFromError(err) {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
