import { z } from 'zod'
import type { HubContext } from '../../hub-context.ts'
import type { Api } from '../api.ts'
import { clientMeta } from '../authenticate.ts'
import {
  loginBody,
  passwordResetBody,
  passwordResetConfirmBody,
  refreshBody,
  tokenResponse,
} from '../schemas.ts'

export function registerAuthRoutes(api: Api, hub: HubContext): void {
  api.route({
    method: 'post',
    path: '/api/v1/auth/login',
    tag: 'auth',
    auth: 'public',
    summary: 'Log in with tenant, username and password',
    body: loginBody,
    responses: { 200: { description: 'Access and refresh tokens', schema: tokenResponse } },
    async handler(ctx, { body }) {
      ctx.body = await hub.auth.login(body, clientMeta(ctx))
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/refresh',
    tag: 'auth',
    auth: 'public',
    summary: 'Exchange a refresh token for new tokens (the presented one is used up)',
    body: refreshBody,
    responses: { 200: { description: 'Access and refresh tokens', schema: tokenResponse } },
    async handler(ctx, { body }) {
      ctx.body = await hub.auth.refresh(body.refreshToken, clientMeta(ctx))
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/logout',
    tag: 'auth',
    auth: 'public',
    summary: "Revoke the refresh token's whole family",
    body: refreshBody,
    responses: { 204: { description: 'Logged out' } },
    async handler(ctx, { body }) {
      await hub.auth.logout(body.refreshToken, clientMeta(ctx))
      ctx.status = 204
    },
  })

  const accepted = z.object({ message: z.string() })
  api.route({
    method: 'post',
    path: '/api/v1/auth/password-reset',
    tag: 'auth',
    auth: 'public',
    summary: 'Ask for a password-reset token by mail (same answer whether or not the account exists)',
    body: passwordResetBody,
    responses: { 202: { description: 'Accepted', schema: accepted } },
    async handler(ctx, { body }) {
      await hub.auth.requestPasswordReset(body, clientMeta(ctx))
      ctx.status = 202
      ctx.body = { message: 'If an active account has this email address, a reset link is on its way.' }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/password-reset/confirm',
    tag: 'auth',
    auth: 'public',
    summary: 'Set a new password with a reset token (single use; ends all sessions)',
    body: passwordResetConfirmBody,
    responses: { 204: { description: 'Password changed' } },
    async handler(ctx, { body }) {
      await hub.auth.confirmPasswordReset(body, clientMeta(ctx))
      ctx.status = 204
    },
  })
}
