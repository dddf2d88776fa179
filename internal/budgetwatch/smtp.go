package budgetwatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// Mailer sends email through an SMTP server (the site's relay): STARTTLS
// whenever the server offers it, and authentication only over TLS (or to
// a server on this machine), so a password never crosses the network in
// the clear.
type Mailer struct {
	Addr     string // host:port of the SMTP server
	From     string // "Tally <tally@example.org>" or an address
	Username string // "" sends without authenticating
	Password string // from TALLY_SMTP_PASSWORD_FILE; never logged
	// TLS configures STARTTLS; nil verifies the server's certificate
	// against the system's roots for the host of Addr.
	TLS     *tls.Config
	Hello   string        // the name Tally greets with; "" is the host name
	Timeout time.Duration // the whole conversation; 0 is 30 s
}

// Message is one email.
type Message struct {
	ID      string // Message-ID, without the angle brackets
	To      []string
	Subject string
	Body    string
	Date    time.Time
}

// RejectedError says the server refused some recipients and took the
// message for the others: it is sent, and not sent again.
type RejectedError struct{ Rejected []string }

func (e *RejectedError) Error() string {
	return "the mail server refused " + strings.Join(e.Rejected, ", ")
}

// Send delivers msg to the server. A nil error or a *RejectedError means
// the server accepted it (for all recipients or some); any other error
// means it did not, and sending again is right.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("mail from %q: %v", m.From, err)
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %v", m.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	hello := m.Hello
	if hello == "" {
		if hello, err = os.Hostname(); err != nil || hello == "" {
			hello = "localhost"
		}
	}
	if err := c.Hello(hello); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if m.TLS != nil {
			cfg = m.TLS.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp STARTTLS: %w", err)
		}
	}
	if m.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: a user name is set but the server offers no AUTH")
		}
		// PlainAuth itself refuses a connection that is neither TLS nor to
		// this machine.
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return fmt.Errorf("smtp AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	var accepted, rejected []string
	for _, to := range msg.To {
		if err := c.Rcpt(to); err != nil {
			// A refused address (5xx) does not stop the others; a
			// temporary refusal (4xx) or a broken connection fails the
			// whole message, to be tried again later.
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code < 500 {
				return fmt.Errorf("smtp RCPT TO: %w", err)
			}
			rejected = append(rejected, fmt.Sprintf("%s (%v)", to, err))
			continue
		}
		accepted = append(accepted, to)
	}
	if len(accepted) == 0 {
		return fmt.Errorf("smtp: every recipient refused: %s", strings.Join(rejected, ", "))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(format(from, accepted, msg)); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	// The server has the message now; a failing QUIT changes nothing.
	_ = c.Quit()
	if len(rejected) > 0 {
		return &RejectedError{Rejected: rejected}
	}
	return nil
}

// format writes the message: UTF-8 text, quoted-printable, with headers
// that cannot be split (no line breaks from the subject) and
// Auto-Submitted, so that out-of-office replies do not answer it.
func format(from *mail.Address, to []string, msg Message) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(msg.Subject)))
	header("Date", msg.Date.Format(time.RFC1123Z))
	header("Message-ID", "<"+oneLine(msg.ID)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}
