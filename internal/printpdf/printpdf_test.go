package printpdf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// browser finds the system's Chromium as the browser tests do: under CI a
// missing browser fails the test; elsewhere it skips with a message.
func browser(t *testing.T) string {
	t.Helper()
	if p := Find(""); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH under CI: install it (apt-get install -y chromium) or set AIR_CHROMIUM")
	}
	t.Skip("no Chromium on PATH (apt-get install -y chromium, or set AIR_CHROMIUM): PDF test skipped")
	return ""
}

func TestPrintMakesAPDF(t *testing.T) {
	p := &Printer{Browser: browser(t)}
	html := []byte(`<!doctype html><html><head><style>h1{color:#333}</style></head><body><h1>Daily report 2026-12-04</h1>
<svg viewBox="0 0 100 10" width="300" height="30"><rect x="0" y="0" width="40" height="10" fill="#c33"></rect></svg></body></html>`)
	pdf, err := p.Print(context.Background(), html)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 1000 {
		t.Fatalf("got %d bytes starting %q, want a PDF", len(pdf), pdf[:min(len(pdf), 8)])
	}
}

func TestPrintWithoutBrowserIsUnavailable(t *testing.T) {
	_, err := (&Printer{}).Print(context.Background(), []byte("<p>x</p>"))
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindUnavailable || !bytes.Contains([]byte(de.Message), []byte("Chromium")) {
		t.Fatalf("got %v, want an unavailable error naming Chromium", err)
	}
}

func TestPrintWithABrokenBrowserSaysWhat(t *testing.T) {
	_, err := (&Printer{Browser: "/bin/false"}).Print(context.Background(), []byte("<p>x</p>"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("/bin/false")) {
		t.Fatalf("got %v, want an error naming the browser", err)
	}
}
