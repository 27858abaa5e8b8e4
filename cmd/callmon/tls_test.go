package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"callmon/callback/store/pgtest"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callmon test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSAndBasicAuth runs callmon with a web config that has TLS and basic
// auth: a real Prometheus scrapes /metrics over TLS with basic auth; the
// API listener uses the same TLS but not the basic auth users, so an agent
// signs in on the page with their token and a supervisor gets the report.
func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	const scrapePassword = "scrape-secret-for-the-test"
	h, err := bcrypt.GenerateFromPassword([]byte(scrapePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: '%s'\n",
		certFile, keyFile, h)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, pgtest.URL(t, "cmd_tls"))
	s.webConfig = webCfg
	s.cfg.Agents[0].TokenHash = testHash("agent01")
	s.launch()
	metricsURL, apiURL := "https://"+s.d.Addr.String(), "https://"+s.d.APIAddr.String()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: waitFor}

	get := func(c *http.Client, u string, set func(*http.Request)) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if set != nil {
			set(req)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// /metrics: basic auth required, over TLS only.
	if code, _ := get(client, metricsURL+"/metrics", nil); code != http.StatusUnauthorized {
		t.Errorf("/metrics without basic auth: %d, want 401", code)
	}
	// Plain HTTP on the TLS port gets Go's 400, not metrics.
	if code, _ := get(http.DefaultClient, "http://"+s.d.Addr.String()+"/metrics", nil); code == http.StatusOK {
		t.Error("/metrics answered over plain HTTP")
	}
	// The API listener does not accept the scrape user, and is TLS too.
	if code, _ := get(client, apiURL+"/api/report?from=2026-11-02&to=2026-11-02", func(r *http.Request) { r.SetBasicAuth("prometheus", scrapePassword) }); code != http.StatusUnauthorized {
		t.Errorf("the report with Prometheus's basic auth: %d, want 401", code)
	}
	if code, body := get(client, apiURL+"/api/report?from=2026-11-02&to=2026-11-02", func(r *http.Request) { authorize(r, testSupervisor) }); code != http.StatusOK {
		t.Errorf("the report as the supervisor: %d %s", code, body)
	}
	if code, body := get(client, apiURL+"/-/healthy", nil); code != http.StatusOK || body != "OK\n" {
		t.Errorf("/-/healthy: %d %q", code, body)
	}

	// An agent signs in on the page (a browser's form post) and opens it.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: tr, Jar: jar, Timeout: waitFor}
	resp, err := browser.PostForm(apiURL+"/signin", url.Values{"token": {testToken("agent01")}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/agent/agent01" || !strings.Contains(string(page), "agent01") {
		t.Errorf("after signing in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	u, _ := url.Parse(apiURL)
	if cs := jar.Cookies(u); len(cs) != 1 {
		t.Errorf("cookies after sign-in: %v", cs)
	}
	if code, _ := get(browser, apiURL+"/api/report?from=2026-11-02&to=2026-11-02", nil); code != http.StatusForbidden {
		t.Errorf("the report as the agent: %d, want 403", code)
	}

	// A real Prometheus scrapes over TLS with basic auth.
	caFile := filepath.Join(dir, "ca.pem")
	raw, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	promDir := t.TempDir()
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: callmon
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prometheus
      password: %s
    static_configs:
      - targets: [%q]
`, caFile, scrapePassword, s.d.Addr.String())
	if err := os.WriteFile(filepath.Join(promDir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	prom := startServer(t, addr, "/-/ready", serverBinary(t, "prometheus", "prometheus"),
		"--config.file="+filepath.Join(promDir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	prom.eventually(t, `up{job="callmon"}`, 1)
	prom.eventually(t, `callmon_ari_connected{job="callmon"}`, 1)
}
