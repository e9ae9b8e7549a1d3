package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/prometheus/promql/parser"
)

// The bounds of one PromQL expression (query, match[], storeMatch[]).
// Neither Prometheus's parser nor the engine's preparation of an expression
// can be interrupted, and both cost the square of its nesting: 32 KiB of
// "1*1*..." take the parser alone over a second. 64 KiB leave room for long
// label regexes, which cost only their length; 1,024 operators,
// parentheses and brackets bound the nesting, to some 60 ms of parsing and
// evaluation at worst.
const (
	maxExprBytes = 64 << 10
	maxExprNodes = 1024
)

// limited runs h for one query, series or label request inside the API's
// bounds: the request's timeout, capped by --query.timeout, counts from
// here, and h runs once a slot of --query.max-concurrent is free. The
// expressions are checked first, so none is parsed outside those bounds.
func (a *API) limited(h apiFunc) apiFunc {
	return func(r *http.Request) result {
		for _, p := range []string{"query", "match[]", "match_target", storeMatchParam} {
			for _, e := range r.Form[p] {
				if len(e) > maxExprBytes {
					return result{err: invalidParam(p, fmt.Errorf("expression of %d bytes, more than the limit of %d", len(e), maxExprBytes))}
				}
			}
		}
		timeout, apiErr := durationParam(r, "timeout")
		if apiErr != nil {
			return result{err: apiErr}
		}
		if max := a.opts.Timeout; max > 0 && (timeout <= 0 || timeout > max) {
			timeout = max
		}
		ctx := r.Context()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := a.acquire(ctx); err != nil {
			return result{err: queryError(err)}
		}
		defer a.release()
		if q := r.FormValue("query"); q != "" {
			if err := checkNesting(q); err != nil {
				return result{err: invalidParam("query", err)}
			}
		}
		return h(r.WithContext(ctx))
	}
}

// checkNesting refuses an expression with more than maxExprNodes operators,
// parentheses and brackets, counted by PromQL's lexer, which takes time in
// proportion to the expression's length.
func checkNesting(expr string) error {
	l := parser.Lex(expr)
	var it parser.Item
	n := 0
	for {
		l.NextItem(&it)
		switch {
		case it.Typ == parser.EOF, it.Typ == parser.ERROR:
			return nil // the parser says what is wrong
		case it.Typ.IsOperator(), it.Typ == parser.LEFT_PAREN, it.Typ == parser.LEFT_BRACKET:
			if n++; n > maxExprNodes {
				return fmt.Errorf("more than %d operators, parentheses and brackets", maxExprNodes)
			}
		}
	}
}

// acquire waits for a free slot (--query.max-concurrent). A request whose
// time is already up is told so, whether or not a slot is free.
func (a *API) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("the request ended before it started: %w", context.Cause(ctx))
	}
	if a.gate == nil {
		return nil
	}
	select {
	case a.gate <- struct{}{}:
		return nil
	default:
	}
	select {
	case a.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		err := context.Cause(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no query slot free within the timeout (--query.max-concurrent=%d): %w", cap(a.gate), err)
		}
		return fmt.Errorf("waiting for a free query slot: %w", err)
	}
}

func (a *API) release() {
	if a.gate != nil {
		<-a.gate
	}
}
