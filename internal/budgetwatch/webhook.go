package budgetwatch

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Webhook posts alerts as JSON (see Payload) to a URL. With a secret,
// each post carries X-Tally-Signature: sha256=<hex HMAC-SHA256 of the
// body under the secret>, so the receiver can tell it came from Tally.
// X-Tally-Alert-Id repeats the alert's id: a receiver that saw it
// already (a retry after a lost answer) can drop the post.
type Webhook struct {
	URL    string
	Secret []byte // from TALLY_ALERT_WEBHOOK_SECRET_FILE; nil: unsigned
	Client *http.Client
}

// Post delivers one alert's payload; any answer but 2xx is a failure.
func (h *Webhook) Post(ctx context.Context, alertID int64, payload []byte) error {
	body, err := withAlertID(payload, alertID)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tally budget alerts")
	req.Header.Set("X-Tally-Alert-Id", strconv.FormatInt(alertID, 10))
	if len(h.Secret) > 0 {
		req.Header.Set("X-Tally-Signature", "sha256="+Sign(h.Secret, body))
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: %s answered %s", h.URL, resp.Status)
	}
	return nil
}

// Sign is the hex HMAC-SHA256 of body under secret, as sent in
// X-Tally-Signature after "sha256=".
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// withAlertID adds the alert's id to the payload recorded at crossing
// (when the id was not yet known).
func withAlertID(payload []byte, id int64) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, fmt.Errorf("webhook payload of alert %d: %v", id, err)
		}
	}
	m["alert_id"] = json.RawMessage(strconv.FormatInt(id, 10))
	return json.Marshal(m)
}
