package billing

import (
	"math/big"
	"math/rand"
	"testing"
)

// The integer fast path gives exactly what math/big gives, for both rules.
func TestFastAmountMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for i := 0; i < 200000; i++ {
		num := rng.Int63n(1 << uint(1+rng.Intn(30)))
		den := []int64{1, 1024}[rng.Intn(2)]
		secs := rng.Int63n(1 << uint(1+rng.Intn(26)))
		price := Micros(rng.Int63n(1 << uint(1+rng.Intn(33))))
		qos := Ratio(rng.Int63n(2_000_001))
		acct := Ratio(rng.Int63n(2_000_001))
		for _, rule := range []Rounding{HalfUp, HalfEven} {
			got, ok := fastAmount(num, den, secs, price, qos, acct, rule)
			r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(num), big.NewInt(secs)), big.NewInt(den*3600))
			r.Mul(r, price.Rat())
			r.Mul(r, big.NewRat(int64(qos), int64(One)))
			r.Mul(r, big.NewRat(int64(acct), int64(One)))
			want := rule.ToMicros(r)
			if ok && got != want {
				t.Fatalf("%d %d %d %d %d %d %s: fast %d, big %d", num, den, secs, price, qos, acct, rule, got, want)
			}
		}
		q, ok := fastQuantity(num, den, secs)
		if ok {
			want := decimal(new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(num), big.NewInt(secs)), big.NewInt(den*3600)))
			if q != want {
				t.Fatalf("quantity %d %d %d: %s vs %s", num, den, secs, q, want)
			}
		}
	}
}
