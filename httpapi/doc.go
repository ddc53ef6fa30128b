// Package httpapi is owlgate's HTTP surface, served on http.listen.
package httpapi
