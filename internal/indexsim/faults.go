package indexsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Faults are the failures the simulator injects into /search. Their JSON form
// (GET and POST /_sim/faults) is
// {"error_rate": 0.3, "timeout_rate": 0.1, "latency": "5ms", "down": false}.
type Faults struct {
	ErrorRate   float64       // share of searches answered 503
	TimeoutRate float64       // share of searches held, then answered 504
	Latency     time.Duration // added to every search
	Down        bool          // every search answers 503
}

type faultsJSON struct {
	ErrorRate   float64 `json:"error_rate"`
	TimeoutRate float64 `json:"timeout_rate"`
	Latency     string  `json:"latency"`
	Down        bool    `json:"down"`
}

func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		ErrorRate:   f.ErrorRate,
		TimeoutRate: f.TimeoutRate,
		Latency:     f.Latency.String(),
		Down:        f.Down,
	})
}

// UnmarshalJSON overwrites only the fields present, so decoding into the
// current faults applies a partial update such as {"down": true}.
func (f *Faults) UnmarshalJSON(data []byte) error {
	wire := faultsJSON{
		ErrorRate:   f.ErrorRate,
		TimeoutRate: f.TimeoutRate,
		Latency:     f.Latency.String(),
		Down:        f.Down,
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	var latency time.Duration
	if wire.Latency != "" {
		var err error
		if latency, err = time.ParseDuration(wire.Latency); err != nil {
			return fmt.Errorf("error parsing latency: %w", err)
		}
	}
	*f = Faults{ErrorRate: wire.ErrorRate, TimeoutRate: wire.TimeoutRate, Latency: latency, Down: wire.Down}
	return nil
}

func (f Faults) validate() error {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, errors.New("error_rate must be between 0 and 1"))
	}
	if f.TimeoutRate < 0 || f.TimeoutRate > 1 {
		errs = append(errs, errors.New("timeout_rate must be between 0 and 1"))
	}
	if f.Latency < 0 {
		errs = append(errs, errors.New("latency must not be negative"))
	}
	return errors.Join(errs...)
}
