// Package billing turns usage into money: exact amounts, versioned rate
// cards, per-job charges with a breakdown, periods and statements. It knows
// nothing of HTTP or of Slurm's wire formats.
package billing

import "fmt"

// Error kinds the web layer maps to HTTP statuses.
const (
	KindInvalid  = "invalid"
	KindNotFound = "not_found"
	KindConflict = "conflict"
)

// Error is a billing failure with a message safe to show to users.
type Error struct {
	Kind    string
	Message string
	// Field, when set, is the input the message is about (account,
	// amount, reason, job), so a form can show it beside that field.
	Field string
}

func (e *Error) Error() string       { return e.Message }
func (e *Error) ErrorKind() string   { return e.Kind }
func (e *Error) SafeMessage() string { return e.Message }

// Invalidf reports bad input.
func Invalidf(format string, a ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, a...)}
}

// InvalidFieldf reports bad input in one field.
func InvalidFieldf(field, format string, a ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, a...), Field: field}
}

// Conflictf reports an operation the current state forbids (a closed period).
func Conflictf(format string, a ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, a...)}
}

// NotFoundf reports a missing thing.
func NotFoundf(format string, a ...any) error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, a...)}
}
