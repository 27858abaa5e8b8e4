package ari

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StartupError is a problem with Asterisk that trying again does not
// solve: the credentials are refused, an ARI module callmon needs is not
// loaded, or Asterisk's certificate is not trusted. callmon stops on it at
// start instead of retrying for ever.
type StartupError struct{ msg string }

func (e *StartupError) Error() string { return e.msg }

// checkedResources are the ARI resources callmon uses, each with the module
// that provides it and a GET that answers without changing anything. A 404
// "Resource not found" is res_ari's answer for a path no loaded module
// registered; the playback id does not exist, which a loaded module says
// differently ("Playback not found").
var checkedResources = []struct{ path, module string }{
	{"/applications", "res_ari_applications"},
	{"/channels", "res_ari_channels"},
	{"/bridges", "res_ari_bridges"},
	{"/endpoints", "res_ari_endpoints"},
	{"/playbacks/callmon-startup-check", "res_ari_playbacks"},
	{"/recordings/stored", "res_ari_recordings"},
}

// Check asks Asterisk once for every ARI resource callmon uses. nil: all
// are there. A *StartupError: see its type. Any other error means Asterisk
// cannot be reached (yet) and is worth trying again. It bypasses the fence:
// a standby checks too, and only reads.
func (a *App) Check(ctx context.Context) error {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: a.cfg.TLS}}
	defer hc.CloseIdleConnections()
	base := strings.TrimSuffix(a.cfg.URL, "/")
	for _, r := range checkedResources {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+r.path, nil)
		if err != nil {
			return &StartupError{fmt.Sprintf("ARI URL %q: %v", a.cfg.URL, err)}
		}
		req.SetBasicAuth(a.cfg.User, a.cfg.Password)
		resp, err := hc.Do(req)
		if err != nil {
			var unknownCA x509.UnknownAuthorityError
			var hostname x509.HostnameError
			var certInvalid x509.CertificateInvalidError
			var recordHeader tls.RecordHeaderError
			switch {
			case errors.As(err, &unknownCA):
				return &StartupError{fmt.Sprintf("Asterisk's certificate at %s is signed by an unknown authority: set ari.ca_file to the CA's PEM file", a.cfg.URL)}
			case errors.As(err, &hostname), errors.As(err, &certInvalid):
				return &StartupError{fmt.Sprintf("Asterisk's certificate at %s is not valid for it: %v", a.cfg.URL, err)}
			case errors.As(err, &recordHeader):
				return &StartupError{fmt.Sprintf("ARI at %s does not speak TLS: write an http:// ari.url, or enable tlsenable in Asterisk's http.conf", a.cfg.URL)}
			}
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			return &StartupError{fmt.Sprintf("ARI at %s refused user %q (401 Unauthorized): check ari.user and the password (%s) against Asterisk's ari.conf",
				a.cfg.URL, a.cfg.User, "CALLMON_ARI_PASSWORD or ari.password_file")}
		case resp.StatusCode == http.StatusNotFound && resourceMissing(body):
			return &StartupError{fmt.Sprintf("ARI at %s has no %s resource (404): load the Asterisk module %s (module load %s.so; in modules.conf), or check that ari.url ends in /ari",
				a.cfg.URL, strings.Split(r.path, "/")[1], r.module, r.module)}
		case resp.StatusCode >= 500:
			return fmt.Errorf("ARI at %s answered GET %s with %s", a.cfg.URL, r.path, resp.Status)
		}
	}
	return nil
}

// resourceMissing tells a 404 for a path nothing serves (res_ari's
// "Resource not found", or Asterisk's HTML page when res_ari itself is not
// loaded) from a 404 about an object that does not exist.
func resourceMissing(body []byte) bool {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) != nil {
		return true
	}
	return m.Message == "Resource not found"
}
