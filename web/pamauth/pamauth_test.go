package pamauth_test

import (
	"context"
	"errors"
	"os"
	"os/user"
	"sync"
	"testing"
	"time"

	"github.com/tally-hpc/tally/web/pamauth"
)

// requirePAMUsers skips (or, under make test, fails) when the users made by
// scripts/test-pam-setup.sh are absent.
func requirePAMUsers(t *testing.T) {
	t.Helper()
	_, errU := user.Lookup("tally-t-alice")
	_, errS := os.Stat("/etc/pam.d/tally-test")
	if errU == nil && errS == nil {
		return
	}
	if os.Getenv("TALLY_TEST_REQUIRE") == "1" {
		t.Fatal("PAM test users missing: run scripts/test-pam-setup.sh as root (make test does)")
	}
	t.Skip("PAM test users missing: run scripts/test-pam-setup.sh as root")
}

func TestRealPAM(t *testing.T) {
	requirePAMUsers(t)
	a := pamauth.New("tally-test", 10*time.Second, 4)
	cases := []struct {
		name, user, password string
		want                 error
	}{
		{"success", "tally-t-alice", "tally-alice-pw", nil},
		{"wrong password", "tally-t-alice", "nope", pamauth.ErrRefused},
		{"unknown user", "tally-t-nobody", "whatever", pamauth.ErrRefused},
		{"expired account", "tally-t-expired", "tally-expired-pw", pamauth.ErrRefused},
		{"locked account", "tally-t-locked", "tally-locked-pw", pamauth.ErrRefused},
		{"empty password", "tally-t-alice", "", pamauth.ErrRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Authenticate(context.Background(), tc.user, tc.password)
			if tc.want == nil && err != nil {
				t.Fatalf("want success, got %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
		})
	}
}

func TestConcurrentLogins(t *testing.T) {
	requirePAMUsers(t)
	a := pamauth.New("tally-test", 20*time.Second, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := a.Authenticate(context.Background(), "tally-t-alice", "tally-alice-pw"); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if err := a.Authenticate(context.Background(), "tally-t-admin", "wrong"); !errors.Is(err, pamauth.ErrRefused) {
				errs <- errors.New("wrong password accepted or odd error")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Debian's /etc/pam.d/other includes common-auth, so PAM would quietly
// accept logins for a missing service; Tally checks the file exists.
func TestServiceFileMustExist(t *testing.T) {
	requirePAMUsers(t)
	if _, err := pamauth.ServiceFile("tally-test"); err != nil {
		t.Fatalf("tally-test: %v", err)
	}
	if _, err := pamauth.ServiceFile("tally-no-such-service"); err == nil {
		t.Fatal("missing service file not reported")
	}
	if _, err := pamauth.ServiceFile("../passwd"); err == nil {
		t.Fatal("path in service name accepted")
	}
}

func TestTimeout(t *testing.T) {
	requirePAMUsers(t)
	a := pamauth.New("tally-test", time.Nanosecond, 1)
	err := a.Authenticate(context.Background(), "tally-t-alice", "tally-alice-pw")
	if !errors.Is(err, pamauth.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}
