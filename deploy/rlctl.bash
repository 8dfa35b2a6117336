# bash completion for rlctl(8) - installed as
# $(PREFIX)/share/bash-completion/completions/rlctl.  Needs nothing from the
# bash-completion package.  Rule names come from the running agent
# (`rlctl -j rule list`, one second at most), when it answers.

_rlctl_rules()
{
	rlctl "$@" -t 1 -j rule list 2>/dev/null |
		grep -o '"name":"[^"]*"' | cut -d'"' -f4
}

_rlctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local i w words=() sock=()

	# the words after the options, and -S for asking the agent
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ ${#words[@]} -eq 0 ]]; then
			case $w in
			-S) sock=(-S "${COMP_WORDS[i+1]}"); ((i++)); continue ;;
			-t) ((i++)); continue ;;
			-*) continue ;;
			esac
		fi
		words+=("$w")
	done

	case $prev in
	-S) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-t | -n) return ;;
	esac
	if [[ ${#words[@]} -eq 0 ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-j -p -S -t -h -V --json --pretty --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "rule allow block stats top events status config help" -- "$cur"))
		fi
		return
	fi
	case ${words[0]} in
	rule)
		if [[ ${#words[@]} -eq 1 ]]; then
			COMPREPLY=($(compgen -W "add change del list help" -- "$cur"))
			return
		fi
		case ${words[1]} in
		change | del | delete | list | show)
			if [[ ${#words[@]} -eq 2 ]]; then
				COMPREPLY=($(compgen -W "$(_rlctl_rules "${sock[@]}")" -- "$cur"))
				return
			fi ;;
		add)
			[[ ${#words[@]} -eq 2 ]] && return ;;
		*) return ;;
		esac
		[[ ${words[1]} == change || ${words[1]} == add ]] || return
		case $prev in
		proto) COMPREPLY=($(compgen -W "tcp udp icmp icmpv6 any" -- "$cur")) ;;
		algo) COMPREPLY=($(compgen -W "token-bucket leaky-bucket fixed-window sliding-window sliding-log" -- "$cur")) ;;
		action) COMPREPLY=($(compgen -W "drop monitor mark" -- "$cur")) ;;
		per) COMPREPLY=($(compgen -W "source source/24,64 rule" -- "$cur")) ;;
		tcp-flags) COMPREPLY=($(compgen -W "syn any" -- "$cur")) ;;
		ecn) COMPREPLY=($(compgen -W "on off src proto dport tcp-flags rate burst algo per action mark-value dscp block-for" -- "$cur")) ;;
		dscp) COMPREPLY=($(compgen -W "none ef le cs0 cs1 cs2 cs3 cs4 cs5 cs6 cs7 af11 af12 af13 af21 af22 af23 af31 af32 af33 af41 af42 af43" -- "$cur")) ;;
		mark-value) COMPREPLY=($(compgen -W "none" -- "$cur")) ;;
		src | dport | rate | burst | block-for) ;;
		*)
			if [[ ${COMP_WORDS[COMP_CWORD-2]} == burst ]]; then
				COMPREPLY=($(compgen -W "packets b kb mb" -- "$cur"))
			fi
			COMPREPLY+=($(compgen -W "src proto dport tcp-flags rate burst algo per action mark-value dscp ecn block-for" -- "$cur")) ;;
		esac ;;
	allow | block)
		if [[ ${#words[@]} -eq 1 ]]; then
			COMPREPLY=($(compgen -W "add del list import flush help" -- "$cur"))
		elif [[ ${words[1]} == import && ${#words[@]} -eq 2 ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		elif [[ ( ${words[1]} == add || ${words[1]} == import ) && ${#words[@]} -eq 3 ]]; then
			COMPREPLY=($(compgen -W "for" -- "$cur"))
		fi ;;
	events)
		[[ ${#words[@]} -eq 1 ]] && COMPREPLY=($(compgen -W "-n" -- "$cur")) ;;
	stats)
		[[ ${#words[@]} -eq 1 ]] && COMPREPLY=($(compgen -W "$(_rlctl_rules "${sock[@]}")" -- "$cur")) ;;
	top)
		[[ ${#words[@]} -eq 1 ]] && COMPREPLY=($(compgen -W "-n" -- "$cur")) ;;
	config)
		if [[ ${#words[@]} -eq 1 ]]; then
			COMPREPLY=($(compgen -W "reload dump save check help" -- "$cur"))
		elif [[ ${#words[@]} -eq 2 && ( ${words[1]} == save || ${words[1]} == check ) ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	esac
}
complete -F _rlctl rlctl
