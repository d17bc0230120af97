package salesforcetest

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// The SOQL subset:
//
//	SELECT f1, f2 FROM Obj    (or SELECT COUNT() FROM Obj)
//	  [WHERE cond AND cond ...]   cond: f op literal | f [NOT] IN (literal, ...)
//	  [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
//	  [LIMIT n] [OFFSET n]
//
// op is one of = != <> < <= > >=; literals are 'strings', numbers, true,
// false, null, dates (2024-05-01) and datetimes (2024-05-01T00:00:00Z).

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tLiteral // number, date or datetime (unquoted)
	tPunct
	tEOF
)

type token struct {
	kind tokKind
	text string
}

type soqlError struct {
	code, msg string
}

func malformed(format string, a ...any) *soqlError {
	return &soqlError{"MALFORMED_QUERY", fmt.Sprintf(format, a...)}
}

func lex(s string) ([]token, *soqlError) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, malformed("unterminated string literal")
			}
			out = append(out, token{tString, b.String()})
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, token{tIdent, s[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '-' || c == '+':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || isIdentStart(s[j]) || strings.IndexByte(":.+-", s[j]) >= 0) {
				j++
			}
			out = append(out, token{tLiteral, s[i:j]})
			i = j
		case strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">=") || strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "<>"):
			out = append(out, token{tPunct, s[i : i+2]})
			i += 2
		case strings.IndexByte("(),=<>", c) >= 0:
			out = append(out, token{tPunct, s[i : i+1]})
			i++
		default:
			return nil, malformed("unexpected character %q", c)
		}
	}
	return append(out, token{kind: tEOF}), nil
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

type cond struct {
	f    *fieldDef
	op   string // = != < <= > >= IN NOTIN
	vals []any  // coerced literal values (nil = null)
}

type orderBy struct {
	f          *fieldDef
	desc       bool
	nullsFirst bool
}

type soql struct {
	d      *objectDef
	fields []*fieldDef
	where  []cond
	order  []orderBy
	limit  int // -1: none
	offset int
	count  bool // SELECT COUNT()
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos = min(p.pos+1, len(p.toks)-1); return t }

func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, kw) {
		p.next()
		return true
	}
	return false
}

func (p *parser) punct(s string) bool {
	if t := p.peek(); t.kind == tPunct && t.text == s {
		p.next()
		return true
	}
	return false
}

func (p *parser) ident(what string) (string, *soqlError) {
	t := p.next()
	if t.kind != tIdent {
		return "", malformed("unexpected token: '%s', expecting %s", t.text, what)
	}
	return t.text, nil
}

// parseSOQL parses q against the org's objects (caller holds o.mu).
func (o *Org) parseSOQL(q string) (*soql, *soqlError) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if !p.keyword("SELECT") {
		return nil, malformed("unexpected token: '%s', expecting SELECT", p.peek().text)
	}
	var names []string
	count := false
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, "COUNT") && p.toks[p.pos+1].text == "(" {
		p.next()
		p.next()
		if !p.punct(")") {
			return nil, malformed("unexpected token: '%s', expecting )", p.peek().text)
		}
		count = true
	}
	for !count {
		n, err := p.ident("a field name")
		if err != nil {
			return nil, err
		}
		names = append(names, n)
		if !p.punct(",") {
			break
		}
	}
	if !p.keyword("FROM") {
		return nil, malformed("unexpected token: '%s', expecting FROM", p.peek().text)
	}
	obj, err := p.ident("an object name")
	if err != nil {
		return nil, err
	}
	d := o.objects[strings.ToLower(obj)]
	if d == nil {
		return nil, &soqlError{"INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", obj)}
	}
	s := &soql{d: d, limit: -1, count: count}
	field := func(n string) (*fieldDef, *soqlError) {
		f := d.byLower[strings.ToLower(n)]
		if f == nil {
			return nil, &soqlError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", n, d.Name)}
		}
		return f, nil
	}
	for _, n := range names {
		f, err := field(n)
		if err != nil {
			return nil, err
		}
		s.fields = append(s.fields, f)
	}
	if p.keyword("WHERE") {
		for {
			c, err := p.cond(field)
			if err != nil {
				return nil, err
			}
			s.where = append(s.where, c)
			if p.keyword("AND") {
				continue
			}
			if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, "OR") {
				return nil, malformed("OR is not supported by this fake")
			}
			break
		}
	}
	if p.keyword("ORDER") {
		if !p.keyword("BY") {
			return nil, malformed("unexpected token: '%s', expecting BY", p.peek().text)
		}
		for {
			n, err := p.ident("a field name")
			if err != nil {
				return nil, err
			}
			f, serr := field(n)
			if serr != nil {
				return nil, serr
			}
			ob := orderBy{f: f}
			if p.keyword("DESC") {
				ob.desc = true
			} else {
				p.keyword("ASC")
			}
			ob.nullsFirst = !ob.desc
			if p.keyword("NULLS") {
				switch {
				case p.keyword("FIRST"):
					ob.nullsFirst = true
				case p.keyword("LAST"):
					ob.nullsFirst = false
				default:
					return nil, malformed("unexpected token: '%s', expecting FIRST or LAST", p.peek().text)
				}
			}
			s.order = append(s.order, ob)
			if !p.punct(",") {
				break
			}
		}
	}
	for _, kw := range []string{"LIMIT", "OFFSET"} {
		if p.keyword(kw) {
			t := p.next()
			n, err := strconv.Atoi(t.text)
			if t.kind != tLiteral || err != nil || n < 0 {
				return nil, malformed("unexpected token: '%s', expecting a non-negative integer", t.text)
			}
			if kw == "LIMIT" {
				s.limit = n
			} else {
				s.offset = n
			}
		}
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, malformed("unexpected token: '%s'", t.text)
	}
	return s, nil
}

func (p *parser) cond(field func(string) (*fieldDef, *soqlError)) (cond, *soqlError) {
	n, err := p.ident("a field name")
	if err != nil {
		return cond{}, err
	}
	f, err := field(n)
	if err != nil {
		return cond{}, err
	}
	c := cond{f: f}
	switch {
	case p.keyword("IN"):
		c.op = "IN"
	case p.keyword("NOT"):
		if !p.keyword("IN") {
			return cond{}, malformed("unexpected token: '%s', expecting IN", p.peek().text)
		}
		c.op = "NOTIN"
	default:
		t := p.next()
		switch t.text {
		case "=", "!=", "<>", "<", "<=", ">", ">=":
			c.op = t.text
			if c.op == "<>" {
				c.op = "!="
			}
		default:
			return cond{}, malformed("unexpected token: '%s', expecting an operator", t.text)
		}
		v, err := p.literal(f)
		if err != nil {
			return cond{}, err
		}
		c.vals = []any{v}
		return c, nil
	}
	if !p.punct("(") {
		return cond{}, malformed("unexpected token: '%s', expecting (", p.peek().text)
	}
	for {
		v, err := p.literal(f)
		if err != nil {
			return cond{}, err
		}
		c.vals = append(c.vals, v)
		if p.punct(")") {
			return c, nil
		}
		if !p.punct(",") {
			return cond{}, malformed("unexpected token: '%s', expecting , or )", p.peek().text)
		}
	}
}

// literal reads a literal and converts it to the stored form of f.
func (p *parser) literal(f *fieldDef) (any, *soqlError) {
	t := p.next()
	typeErr := func() *soqlError {
		quoted := ""
		if f.Kind != cdcschema.String {
			quoted = " and should not be enclosed in quotes"
		}
		return &soqlError{"INVALID_FIELD", fmt.Sprintf("value of filter criterion for field '%s' must be of type %s%s", f.Name, kindName(f.Kind), quoted)}
	}
	if t.kind == tIdent && strings.EqualFold(t.text, "null") {
		return nil, nil
	}
	switch f.Kind {
	case cdcschema.String:
		if t.kind != tString {
			return nil, typeErr()
		}
		if f.Name == "Id" || strings.HasSuffix(f.Name, "Id") {
			if full, ok := normID(t.text); ok {
				return full, nil
			}
		}
		return t.text, nil
	case cdcschema.Boolean:
		if t.kind == tIdent && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")) {
			return strings.EqualFold(t.text, "true"), nil
		}
	case cdcschema.Int, cdcschema.Double:
		if t.kind == tLiteral {
			if v, err := strconv.ParseFloat(t.text, 64); err == nil {
				if f.Kind == cdcschema.Int {
					return int64(v), nil
				}
				return v, nil
			}
		}
	case cdcschema.DateTime:
		if t.kind == tLiteral && strings.Contains(t.text, "T") {
			if v, err := parseSFTime(t.text); err == nil {
				return v, nil
			}
		}
	case cdcschema.Date:
		if t.kind == tLiteral && !strings.Contains(t.text, "T") {
			if v, err := time.Parse("2006-01-02", t.text); err == nil {
				return v, nil
			}
		}
	}
	if t.kind == tEOF || t.kind == tPunct {
		return nil, malformed("unexpected token: '%s', expecting a value", t.text)
	}
	return nil, typeErr()
}

// compareValues orders two non-nil stored values of one field.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case time.Time:
		return x.Compare(b.(time.Time))
	case string:
		return cmp.Compare(strings.ToLower(x), strings.ToLower(b.(string)))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case bool:
		xb, yb := 0, 0
		if x {
			xb = 1
		}
		if b.(bool) {
			yb = 1
		}
		return cmp.Compare(xb, yb)
	}
	return 0
}

func (c cond) match(r *record) bool {
	v := r.value(c.f)
	eq := func(w any) bool {
		if v == nil || w == nil {
			return v == nil && w == nil
		}
		return compareValues(v, w) == 0
	}
	switch c.op {
	case "=":
		return eq(c.vals[0])
	case "!=":
		return !eq(c.vals[0])
	case "IN", "NOTIN":
		in := false
		for _, w := range c.vals {
			in = in || eq(w)
		}
		return in == (c.op == "IN")
	}
	w := c.vals[0]
	if v == nil || w == nil {
		return false
	}
	n := compareValues(v, w)
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	}
	return n >= 0
}

func (s *soql) less(a, b *record) int {
	for _, o := range s.order {
		va, vb := a.value(o.f), b.value(o.f)
		var n int
		switch {
		case va == nil && vb == nil:
			n = 0
		case va == nil || vb == nil:
			n = 1
			if (va == nil) == o.nullsFirst {
				n = -1
			}
			return n
		default:
			n = compareValues(va, vb)
			if o.desc {
				n = -n
			}
		}
		if n != 0 {
			return n
		}
	}
	return cmp.Compare(a.seq, b.seq)
}
