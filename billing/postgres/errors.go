package postgres

import (
	"errors"
	"fmt"

	"github.com/tally-hpc/tally/billing"
)

// annotate says what was being done when a storage error happened
// ("closing 2026-10: …"), deferred by each store method. billing.Errors
// pass as they are: their messages are for people and already say it.
func annotate(err *error, format string, args ...any) {
	var be *billing.Error
	if *err == nil || errors.As(*err, &be) {
		return
	}
	*err = fmt.Errorf(format+": %w", append(args, *err)...)
}
