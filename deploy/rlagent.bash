# bash completion for rlagent(8) - installed as
# $(PREFIX)/share/bash-completion/completions/rlagent.  Needs nothing from
# the bash-completion package.

_rlagent()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}

	case $prev in
	-c | --config | --check-config | -S | --socket | --chartjs)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-p | --pin-dir)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	-i | --interface)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
	-m | --xdp-mode)
		COMPREPLY=($(compgen -W "auto native generic" -- "$cur")); return ;;
	--xdp-attach)
		COMPREPLY=($(compgen -W "auto dispatcher link" -- "$cur")); return ;;
	--xdp-priority)
		return ;;
	--socket-group)
		COMPREPLY=($(compgen -g -- "$cur")); return ;;
	--metrics)
		COMPREPLY=($(compgen -W "off 127.0.0.1:9471 [::1]:9471" -- "$cur")); return ;;
	--gc-interval)
		return ;;
	esac
	COMPREPLY=($(compgen -W "-c --config -i --interface -S --socket -p --pin-dir -m --xdp-mode
		-v --verbose --foreground -d --daemon --gc-interval --detach-on-exit --metrics --chartjs
		--xdp-attach --xdp-priority --socket-group
		--check-config -h --help -V --version" -- "$cur"))
}
complete -F _rlagent rlagent
