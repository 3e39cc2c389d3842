-- seed.sql: demo data for local development (supabase db reset, PGlite at `npm start`).
--
-- Three demo users with fixed uuids, who sign in with their email and the password
-- `quantforge-demo` (the dev server's local auth, or `supabase start`'s; bcrypt hash, cost 10):
--   alice@example.com  11111111-1111-4111-8111-111111111111
--   bob@example.com    22222222-2222-4222-8222-222222222222
--   carol@example.com  33333333-3333-4333-8333-333333333333
-- Idempotent: fixed ids with on conflict do nothing. Local and development databases only.

insert into auth.users
  (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
   raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
   confirmation_token, recovery_token, email_change_token_new, email_change)
select '00000000-0000-0000-0000-000000000000', u.id::uuid, 'authenticated', 'authenticated',
  u.email, '$2b$10$lvFmYo7PlViaAudmPoglDeOEFuua/vwIzm5clCZmCwyd8IR2lQt/i', now(),
  '{"provider": "email", "providers": ["email"]}', jsonb_build_object('name', u.name),
  now(), now(), '', '', '', ''
from (values
  ('11111111-1111-4111-8111-111111111111', 'alice@example.com', 'Alice'),
  ('22222222-2222-4222-8222-222222222222', 'bob@example.com', 'Bob'),
  ('33333333-3333-4333-8333-333333333333', 'carol@example.com', 'Carol')
) as u (id, email, name)
on conflict (id) do nothing;

insert into public.strategies
  (id, user_id, name, description, strategy_type, parameters, is_public)
values
  ('a1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
   'EMA Trend Rider', 'Follows the trend when the 50 EMA crosses above the 200 EMA.',
   'trend_following', '{"fast_ema": 50, "slow_ema": 200, "timeframe": "H1"}', true),
  ('a1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
   'RSI Reversal', 'Fades extremes: buys below RSI 30, sells above RSI 70.',
   'mean_reversion', '{"rsi_period": 14, "oversold": 30, "overbought": 70}', false),
  ('b2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
   'London Breakout', 'Trades the break of the Asian session range at the London open.',
   'breakout', '{"session": "london", "range_hours": 7}', true),
  ('c3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
   'Grid Harvester', 'Places a grid of limit orders around the daily open.',
   'grid', '{"levels": 10, "spacing_pips": 15}', false)
on conflict (id) do nothing;

insert into public.robots
  (id, user_id, strategy_id, name, description, strategy_type, strategy_params, is_public)
values
  ('a1a00000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
   'a1000000-0000-4000-8000-000000000001', 'EURUSD Trend Rider EA',
   'Trend-following Expert Advisor for EURUSD on H1 with an ATR trailing stop.',
   'trend_following', '{"symbol": "EURUSD", "timeframe": "H1", "risk_percent": 1}', true),
  ('a1a00000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
   'a1000000-0000-4000-8000-000000000002', 'Gold RSI Reversal',
   'Mean-reversion robot for XAUUSD on M15 using RSI extremes.',
   'mean_reversion', '{"symbol": "XAUUSD", "timeframe": "M15", "risk_percent": 0.5}', false),
  ('a1a00000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111',
   null, 'BTC Momentum Scalper',
   'Scalps Bitcoin momentum bursts on M1 with tight stops.',
   'scalping', '{"symbol": "BTCUSD", "timeframe": "M1", "take_profit_pips": 8}', false),
  ('b2b00000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
   'b2000000-0000-4000-8000-000000000001', 'GBPUSD London Breakout',
   'Breakout robot for the London open on GBPUSD.',
   'breakout', '{"symbol": "GBPUSD", "timeframe": "M15"}', true),
  ('b2b00000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222',
   null, 'US500 Hedging Bot',
   'Hedges an index portfolio with short US500 positions when volatility spikes.',
   'hedging', '{"symbol": "US500", "vix_threshold": 25}', false),
  ('c3c00000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
   'c3000000-0000-4000-8000-000000000001', 'USDJPY Grid Harvester',
   'Grid robot harvesting USDJPY ranges.',
   'grid', '{"symbol": "USDJPY", "levels": 10}', false),
  ('c3c00000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333',
   null, 'Crypto Arbitrage Scanner',
   'Scans ETHUSD price gaps between venues.',
   'arbitrage', '{"symbol": "ETHUSD", "min_gap_bps": 12}', true)
on conflict (id) do nothing;
