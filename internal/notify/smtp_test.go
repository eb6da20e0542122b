package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailServer is a real SMTP server (go-smtp) on a loopback port, with
// STARTTLS (a certificate made for the test) and AUTH PLAIN, keeping what
// it receives.
type mailServer struct {
	addr  string
	roots *x509.CertPool

	mu       sync.Mutex
	received []received
	auths    []string
	// rcptErr, when set, is the answer to RCPT TO.
	rcptErr error
}

type received struct {
	from string
	to   []string
	data []byte
	tls  bool
}

func startMailServer(t *testing.T, user, pass string) *mailServer {
	t.Helper()
	cert, roots := selfSigned(t)
	ms := &mailServer{roots: roots}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &mailSession{ms: ms, user: user, pass: pass, tls: isTLS}, nil
	}))
	srv.Domain = "mail.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ms
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func (ms *mailServer) port(t *testing.T) int {
	_, p, _ := net.SplitHostPort(ms.addr)
	var n int
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

func (ms *mailServer) messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.received...)
}

type mailSession struct {
	ms         *mailServer
	user, pass string
	tls        bool
	from       string
	to         []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.ms.mu.Lock()
		s.ms.auths = append(s.ms.auths, user)
		s.ms.mu.Unlock()
		if user != s.user || pass != s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ms.mu.Lock()
	err := s.ms.rcptErr
	s.ms.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	s.ms.received = append(s.ms.received, received{from: s.from, to: s.to, data: b, tls: s.tls})
	s.ms.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestSMTPDeliversOverSTARTTLS sends through a real SMTP server: STARTTLS
// before AUTH, the envelope and the headers as configured, the subject
// encoded and the body intact.
func TestSMTPDeliversOverSTARTTLS(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, "air", "s3cret")
	s := &SMTP{Host: "127.0.0.1", Port: ms.port(t), From: "AIR <air@corp.example>", To: []string{"soc@corp.example", "lead@corp.example"},
		Username: "air", Password: "s3cret", TLS: TLSStartTLS, RootCAs: ms.roots, Hello: "worker.test"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := Outgoing{Key: "incident.created:7/r/mail", Subject: "[AIR] New high incident 7: Credential theft on ws-042 — café",
		Text: "Incident 7: Credential theft\nSeverity: high\nA line that is rather long " + strings.Repeat("x", 120)}
	if err := s.Send(ctx, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.tls {
		t.Error("the message did not travel over TLS")
	}
	if m.from != "air@corp.example" || strings.Join(m.to, ",") != "soc@corp.example,lead@corp.example" {
		t.Errorf("envelope: from %q to %v", m.from, m.to)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject: %q (%v), want %q", subject, err, msg.Subject)
	}
	if parsed.Header.Get("From") != "AIR <air@corp.example>" || parsed.Header.Get("To") != "soc@corp.example, lead@corp.example" {
		t.Errorf("headers: From %q To %q", parsed.Header.Get("From"), parsed.Header.Get("To"))
	}
	if parsed.Header.Get("Auto-Submitted") != "auto-generated" || parsed.Header.Get("Message-Id") == "" {
		t.Errorf("headers: %v", parsed.Header)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(strings.TrimRight(string(body), "\r\n"), "\r\n", "\n"); got != msg.Text {
		t.Errorf("body:\n%q\nwant\n%q", got, msg.Text)
	}
}

// TestSMTPSendsAttachments: a message with files is multipart/mixed — the
// text first, then each file in base64 with its name and type — and reads
// back byte for byte through the standard MIME reader.
func TestSMTPSendsAttachments(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, "air", "s3cret")
	s := &SMTP{Host: "127.0.0.1", Port: ms.port(t), From: "air@corp.example", To: []string{"ciso@corp.example"},
		Username: "air", Password: "s3cret", TLS: TLSStartTLS, RootCAs: ms.roots, Hello: "worker.test"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 0xff, 'x', '\n'}, 100)...)
	msg := Outgoing{Key: "report-run:7//mail", Subject: "[AIR] quarterly report 2026-Q3", Text: "Incidents: 12\nLink: https://air/reports/runs/7",
		Attachments: []Attachment{{Name: "quarterly-2026-Q3.html", ContentType: "text/html; charset=utf-8", Data: []byte("<!doctype html><h1>Q3 — café</h1>")},
			{Name: "quarterly-2026-Q3.pdf", ContentType: "application/pdf", Data: pdf}}}
	if err := s.Send(ctx, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v), want multipart/mixed", parsed.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(parsed.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(p) // multipart decodes quoted-printable itself
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			if data, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(data), "\r\n", "")); err != nil {
				t.Fatal(err)
			}
		}
		parts = append(parts, p.FileName())
		switch p.FileName() {
		case "":
			if got := strings.ReplaceAll(strings.TrimRight(string(data), "\r\n"), "\r\n", "\n"); got != msg.Text {
				t.Errorf("text part %q, want %q", got, msg.Text)
			}
		case "quarterly-2026-Q3.pdf":
			if !bytes.Equal(data, pdf) || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/pdf") {
				t.Errorf("PDF part: %d bytes, %q", len(data), p.Header.Get("Content-Type"))
			}
		case "quarterly-2026-Q3.html":
			if string(data) != string(msg.Attachments[0].Data) {
				t.Errorf("HTML part %q", data)
			}
		}
	}
	if strings.Join(parts, ",") != ",quarterly-2026-Q3.html,quarterly-2026-Q3.pdf" {
		t.Errorf("parts %q, want the text then the two files", parts)
	}
	for _, line := range strings.Split(string(got[0].data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("a line of %d characters: SMTP allows 998", len(line))
		}
	}
}

// TestSMTPClassifiesFailures: a server without STARTTLS is refused (the
// password must not travel in the clear), a bad password and a refused
// recipient are permanent (5xx), a 4xx answer is worth another try.
func TestSMTPClassifiesFailures(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, "air", "s3cret")
	base := SMTP{Host: "127.0.0.1", Port: ms.port(t), From: "air@corp.example", To: []string{"soc@corp.example"},
		Username: "air", Password: "s3cret", TLS: TLSStartTLS, RootCAs: ms.roots}
	send := func(s SMTP) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Send(ctx, Outgoing{Key: "k", Subject: "s", Text: "t"})
	}

	untrusted := base
	untrusted.RootCAs = x509.NewCertPool()
	if err := send(untrusted); err == nil {
		t.Error("a certificate the channel does not trust was accepted")
	}
	bad := base
	bad.Password = "wrong"
	if perm, _, _ := classify(send(bad)); !perm {
		t.Error("a refused password (535) is not permanent")
	}
	ms.mu.Lock()
	ms.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	ms.mu.Unlock()
	err := send(base)
	if perm, _, _ := classify(err); !perm || !strings.Contains(err.Error(), "550") {
		t.Errorf("refused recipient: %v, want permanent 550", err)
	}
	ms.mu.Lock()
	ms.rcptErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	ms.mu.Unlock()
	err = send(base)
	if perm, _, _ := classify(err); err == nil || perm {
		t.Errorf("451: %v, want a retryable error", err)
	}
	if len(ms.messages()) != 0 {
		t.Errorf("messages got through: %d", len(ms.messages()))
	}

	// A plain server (no STARTTLS offered): refused unless tls is none.
	plain := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{ms: ms}, nil
	}))
	plain.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go plain.Serve(ln)
	defer plain.Close()
	ms.mu.Lock()
	ms.rcptErr = nil
	ms.mu.Unlock()
	noTLS := SMTP{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "air@corp.example", To: []string{"soc@corp.example"},
		TLS: TLSStartTLS}
	if err := send(noTLS); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("a server without STARTTLS: %v, want refused", err)
	}
	noTLS.TLS = TLSNone
	if err := send(noTLS); err != nil {
		t.Errorf("tls none to a loopback relay: %v", err)
	}
	if n := len(ms.messages()); n != 1 {
		t.Errorf("after the plain send the server holds %d messages, want 1", n)
	}
}

// TestSMTPGivesUpWhenTheContextEnds: a server that never answers does not
// hold a send past its context.
func TestSMTPGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // say nothing
		}
	}()
	s := &SMTP{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "a@b.example", To: []string{"c@d.example"}, TLS: TLSStartTLS}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, Outgoing{Key: "k", Subject: "s"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("send to a silent server: %v after %s", err, time.Since(start))
	}
	var se *SendError
	if errors.As(err, &se) && se.Permanent {
		t.Errorf("a timeout is permanent: %v", err)
	}
}
