# state-to-csv.awk: the set docker-eventsd gives a state rule's command (a
# JSON array of containers) as CSV, one row per container, in the set's order
# (by engine, then name):
#
#     engine,name,id,image,status,state,health,exit_code,created
#
# status is the rule's view (the state, or "unknown" when the engine has been
# down longer than engine_down_grace); state is the last state known.
#
#     awk -f state-to-csv.awk "$EVENTSD_STATE_FILE"
#
# Any POSIX awk (mawk, gawk, busybox); run it with LC_ALL=C. It reads the
# array by splitting it at its quotes: pieces outside strings hold the
# structure ({ } [ ] : , numbers), pieces inside are strings; a piece ending
# in an odd number of backslashes ended at an escaped quote and goes on in
# the next one. Strings inside nested objects (labels) are skipped, so a
# label can never shift or fake a column.

BEGIN {
	ncols = split("engine,name,id,image,status,state,health,exitCode,created", cols, ",")
	print "engine,name,id,image,status,state,health,exit_code,created"
}

{ text = text $0 "\n" }

END {
	n = split(text, piece, "\"")
	depth = 0
	outside(piece[1])
	for (i = 2; i <= n; i++) {
		s = piece[i]
		while (odd_backslashes(s) && i < n) {
			i++
			s = s "\"" piece[i]
		}
		str(s)
		if (++i <= n) outside(piece[i])
	}
}

# odd_backslashes(s): whether s ends in an odd number of backslashes.
function odd_backslashes(s) {
	return match(s, /\\+$/) && RLENGTH % 2 == 1
}

# str(s): a string token (without its quotes) at the current depth. At depth
# 2, inside a container's object, it is a key or, after ":", its value.
function str(s) {
	if (depth != 2) return
	if (want == "value") {
		row[key] = unescape(s)
		want = ""
	} else {
		key = s
	}
}

# outside(o): the structure between two strings.
function outside(o,    j, c, lit) {
	lit = ""
	for (j = 1; j <= length(o); j++) {
		c = substr(o, j, 1)
		if (c == "{" || c == "[") {
			depth++
			want = ""
			if (depth == 2) delete_row()
		} else if (c == "}" || c == "]" || c == ",") {
			if (depth == 2 && want == "value" && lit != "") row[key] = lit
			lit = ""
			want = ""
			if (c != ",") {
				if (depth == 2 && c == "}") emit()
				depth--
			}
		} else if (c == ":") {
			want = "value"
		} else if (c !~ /[ \t\r\n]/) {
			lit = lit c
		}
	}
	if (depth == 2 && want == "value" && lit != "") {
		row[key] = lit
		want = ""
	}
}

function delete_row(    k) {
	for (k in row) delete row[k]
}

function emit(    j, line) {
	line = ""
	for (j = 1; j <= ncols; j++) line = line (j > 1 ? "," : "") csv(row[cols[j]])
	print line
}

# csv(v): v as a CSV field, quoted when it holds a comma, a quote or a line
# break.
function csv(v) {
	if (v == "null") v = ""
	if (v ~ /[",\r\n]/) {
		gsub(/"/, "\"\"", v)
		v = "\"" v "\""
	}
	return v
}

# unescape(s): the JSON string s without its escapes (\u sequences are kept
# as they are).
function unescape(s,    out, j, c) {
	if (index(s, "\\") == 0) return s
	out = ""
	for (j = 1; j <= length(s); j++) {
		c = substr(s, j, 1)
		if (c != "\\") {
			out = out c
			continue
		}
		c = substr(s, ++j, 1)
		if (c == "n") out = out "\n"
		else if (c == "t") out = out "\t"
		else if (c == "r") out = out "\r"
		else if (c == "b" || c == "f") out = out " "
		else if (c == "u") out = out "\\u"
		else out = out c
	}
	return out
}
