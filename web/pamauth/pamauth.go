// Package pamauth checks cluster passwords with PAM, the way login nodes do:
// whatever the site's /etc/pam.d/<service> stacks (pam_unix, pam_sss, ...).
package pamauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msteinert/pam/v2"
)

// ErrRefused is every "no" PAM gives: wrong password, unknown user, locked
// or expired account. Callers show one message for all of them (no user
// enumeration); the wrapped detail is for the audit log.
var ErrRefused = errors.New("user name or password not accepted")

// ErrUnavailable means PAM did not answer in time or could not run.
var ErrUnavailable = errors.New("the sign-in service is not answering")

// Authenticator runs PAM's auth and account stacks for one service.
type Authenticator struct {
	service string
	timeout time.Duration
	slots   chan struct{}
}

// New returns an Authenticator for service (a file in /etc/pam.d). At most
// maxConcurrent conversations run at once; the rest wait their turn.
func New(service string, timeout time.Duration, maxConcurrent int) *Authenticator {
	if maxConcurrent <= 0 {
		maxConcurrent = 8
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Authenticator{service: service, timeout: timeout, slots: make(chan struct{}, maxConcurrent)}
}

// Authenticate checks the password and that the account may log in now.
func (a *Authenticator) Authenticate(ctx context.Context, user, password string) error {
	_, err := a.AuthenticateName(ctx, user, password)
	return err
}

// AuthenticateName is Authenticate that also returns the user name PAM
// settled on (PAM_USER after the stacks ran): a module may map what was
// typed (a realm, another case, an alias) to another account, and that
// account, not the typed text, is who signed in.
func (a *Authenticator) AuthenticateName(ctx context.Context, user, password string) (string, error) {
	if user == "" || password == "" {
		return "", fmt.Errorf("%w: empty user name or password", ErrRefused)
	}
	if strings.ContainsRune(user, 0) || strings.ContainsRune(password, 0) {
		// C strings end at NUL: "a\x00b" would be checked as "a".
		return "", fmt.Errorf("%w: NUL in user name or password", ErrRefused)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: waited too long for a free PAM slot", ErrUnavailable)
	}
	type answer struct {
		name string
		err  error
	}
	done := make(chan answer, 1)
	// PAM calls cannot be interrupted; on timeout the conversation finishes
	// in the background and releases its slot then.
	go func() {
		defer func() { <-a.slots }()
		name, err := a.converse(user, password)
		done <- answer{name, err}
	}()
	select {
	case ans := <-done:
		return ans.name, ans.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: no answer within %s", ErrUnavailable, a.timeout)
	}
}

func (a *Authenticator) converse(user, password string) (string, error) {
	tx, err := pam.StartFunc(a.service, user, func(style pam.Style, msg string) (string, error) {
		switch style {
		case pam.PromptEchoOff, pam.PromptEchoOn:
			// Any prompt is the password prompt: modules word it differently
			// ("Password: ", "LDAP Password: ").
			return password, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		default:
			return "", errors.New("unsupported PAM conversation")
		}
	})
	if err != nil {
		return "", fmt.Errorf("%w: start PAM service %q: %v", ErrUnavailable, a.service, err)
	}
	defer tx.End()
	if err := tx.Authenticate(pam.DisallowNullAuthtok); err != nil {
		return "", fmt.Errorf("%w: authenticate: %v", ErrRefused, err)
	}
	if err := tx.AcctMgmt(pam.DisallowNullAuthtok); err != nil {
		return "", fmt.Errorf("%w: account: %v", ErrRefused, err)
	}
	name, err := tx.GetItem(pam.User)
	if err != nil || name == "" {
		return "", fmt.Errorf("%w: PAM did not say which user it checked: %v", ErrUnavailable, err)
	}
	return name, nil
}

// ServiceFile finds the PAM configuration of service. A missing file must
// stop Tally from starting: PAM would fall back to the "other" service,
// which on Debian includes common-auth and lets every local account in.
func ServiceFile(service string) (string, error) {
	if service == "" || strings.ContainsAny(service, "/\\") || strings.HasPrefix(service, ".") {
		return "", fmt.Errorf("PAM service %q: want a plain name such as tally", service)
	}
	// Where Linux-PAM looks for service files.
	for _, d := range []string{"/etc/pam.d", "/usr/lib/pam.d", "/lib/pam.d"} {
		p := filepath.Join(d, service)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("PAM service %q has no file in /etc/pam.d: install docs/pam.d/tally as /etc/pam.d/%s", service, service)
}
