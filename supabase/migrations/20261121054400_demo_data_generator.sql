-- 20261121054400_demo_data_generator.sql: generate_demo_robots(n, users), a set-based generator of
-- realistic robots for benchmarks and plan tests (1 million rows in well under a minute of
-- insert time on a laptop; index builds dominate). Service-only: anon and authenticated cannot
-- execute it.
--
-- Users are deterministic uuids 00000000-0000-4000-8000-<user number, 12 hex digits>, so tests
-- and benchmarks can act as one of them (demo_user_id(k)). Names and descriptions combine words
-- traders search for, so trigram search has realistic selectivity. Every 5th robot is public;
-- strategy types come from a hash of the row number, so they do not correlate with the owner or
-- the public flag (each user has robots of every type, as real data would).

create or replace function public.demo_user_id(user_number integer) returns uuid
language sql immutable
set search_path = ''
as $$
  select ('00000000-0000-4000-8000-' || lpad(to_hex(user_number), 12, '0'))::uuid
$$;

create or replace function public.generate_demo_robots(n integer, users integer default 1000)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  inserted bigint;
begin
  if n is null or n < 0 then
    raise exception 'n must be a non-negative integer: received %', n;
  end if;
  if users is null or users < 1 then
    raise exception 'users must be an integer >= 1: received %', users;
  end if;

  insert into public.robots
    (user_id, name, description, strategy_type, strategy_params, is_public, created_at, updated_at)
  select
    public.demo_user_id(1 + (i % users)),
    initcap(adjective) || ' ' || initcap(market) || ' ' || initcap(noun) || ' ' || i,
    'A ' || adjective || ' ' || replace(kind, '_', ' ') || ' robot trading ' || market
      || ' on the ' || timeframe || ' chart with ' || indicator || ' signals.',
    kind,
    jsonb_build_object(
      'timeframe', timeframe,
      'indicator', indicator,
      'risk_percent', round((0.5 + (i % 40) / 10.0)::numeric, 1),
      'stop_loss_pips', 10 + (i % 90)
    ),
    i % 5 = 0,
    created,
    created
  from (
    select
      i,
      (array['swift', 'steady', 'aggressive', 'careful', 'adaptive', 'silent', 'golden', 'rapid',
             'patient', 'bold', 'quantum', 'lunar'])[1 + (i * 7) % 12] as adjective,
      (array['eurusd', 'gbpusd', 'usdjpy', 'xauusd', 'btcusd', 'ethusd', 'us500', 'nasdaq',
             'audusd', 'oil'])[1 + (i * 3) % 10] as market,
      (array['hunter', 'scalper', 'falcon', 'engine', 'pilot', 'sentinel', 'trader', 'wave',
             'grid', 'breaker', 'voyager'])[1 + (i / 3) % 11] as noun,
      (array['trend_following', 'mean_reversion', 'breakout', 'scalping', 'grid', 'martingale',
             'arbitrage', 'momentum', 'hedging', 'custom'])[1 + abs(hashint4(i) % 10)] as kind,
      (array['M1', 'M5', 'M15', 'H1', 'H4', 'D1'])[1 + i % 6] as timeframe,
      (array['rsi', 'macd', 'bollinger', 'ema crossover', 'atr', 'stochastic', 'ichimoku',
             'vwap'])[1 + (i * 5) % 8] as indicator,
      now() - (i % 31536000) * interval '1 second' - (i % 997) * interval '1 microsecond'
        as created
    from generate_series(1, n) as i
  ) as g;

  get diagnostics inserted = row_count;
  return inserted;
end
$$;

revoke execute on function public.generate_demo_robots(integer, integer)
  from public, anon, authenticated;
grant execute on function public.generate_demo_robots(integer, integer) to service_role;
