package main

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
)

// TestPostgreSQLSSLMode: DATABASE_URL's sslmode is honoured (pgx parses it):
// verify-full with the server's certificate as sslrootcert connects over
// TLS; verify-full without it is refused, so the certificate really is
// checked. It needs the local PostgreSQL to have ssl = on.
func TestPostgreSQLSSLMode(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_sslmode")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var ssl, certFile string
	err = conn.QueryRow(ctx, "SELECT current_setting('ssl'), current_setting('ssl_cert_file')").Scan(&ssl, &certFile)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ssl != "on" {
		t.Fatalf("the PostgreSQL at %s has ssl = %s: this test needs ssl = on (with a certificate for localhost) in postgresql.conf; sslmode cannot be tested here", dbURL, ssl)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// The local server's (snakeoil) certificate names localhost.
	u.Host = "localhost:" + u.Port()
	withSSL := func(params map[string]string) string {
		v := u.Query()
		for k, p := range params {
			v.Set(k, p)
		}
		w := *u
		w.RawQuery = v.Encode()
		return w.String()
	}

	verified := withSSL(map[string]string{"sslmode": "verify-full", "sslrootcert": certFile})
	t.Setenv("DATABASE_URL", verified)
	if code, out, errOut := runMain(t, "migrate", "up"); code != 0 {
		t.Fatalf("migrate over verify-full: exit %d\n%s%s", code, out, errOut)
	}
	conn, err = pgx.Connect(ctx, verified)
	if err != nil {
		t.Fatal(err)
	}
	var usesSSL bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&usesSSL); err != nil || !usesSSL {
		t.Errorf("connection with sslmode=verify-full: ssl = %v, %v", usesSSL, err)
	}
	conn.Close(ctx)

	// Another CA (httptest's) as sslrootcert: the server is not trusted.
	// (Without sslrootcert this machine would trust it: Go reads every
	// certificate in /etc/ssl/certs, the snakeoil one too.)
	ts := httptest.NewTLSServer(nil)
	other := filepath.Join(t.TempDir(), "other-ca.pem")
	err = os.WriteFile(other, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	ts.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", withSSL(map[string]string{"sslmode": "verify-full", "sslrootcert": other}))
	code, _, errOut := runMain(t, "migrate", "status")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("verify-full with another CA: exit %d, want a certificate error:\n%s", code, errOut)
	}
}
