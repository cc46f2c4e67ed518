package events

import "reflect"

var (
	stringType  = reflect.TypeFor[string]()
	stringsType = reflect.TypeFor[[]string]()
)

// Redact returns a copy of a with f applied to every string and []string
// field, embedded structs included. Named string types (Signal) are closed
// sets of words, not user data, and are left alone.
func Redact(a Attributes, f func(string) string) Attributes {
	if a == nil || f == nil {
		return a
	}
	v := reflect.New(reflect.TypeOf(a)).Elem()
	v.Set(reflect.ValueOf(a))
	redactValue(v, f)
	out, _ := v.Interface().(Attributes)
	return out
}

func redactValue(v reflect.Value, f func(string) string) {
	for i := range v.NumField() {
		fv := v.Field(i)
		if !fv.CanSet() {
			continue
		}
		switch {
		case fv.Type() == stringType:
			fv.SetString(f(fv.String()))
		case fv.Type() == stringsType && !fv.IsNil():
			ys := make([]string, fv.Len())
			for j := range ys {
				ys[j] = f(fv.Index(j).String())
			}
			fv.Set(reflect.ValueOf(ys))
		case fv.Kind() == reflect.Struct:
			redactValue(fv, f)
		}
	}
}
