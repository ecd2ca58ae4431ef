import type Router from '@koa/router'
import type { Context, Middleware } from 'koa'
import { z } from 'zod'
import type { AgentRecord } from '../agents/agent-directory.ts'
import type { Principal } from '../rbac/principal.ts'
import { errorBodySchema, notFound } from './errors.ts'

/**
 * Routes are declared once, with zod schemas for their path parameters, query and body. The same
 * declaration validates requests (400 with the failing fields), types the handler's input, and
 * generates the OpenAPI 3.1 document, so the document cannot drift from what the hub enforces.
 */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
/**
 * public: anyone; user: a bearer access token, the user's roles loaded from the database;
 * token: a bearer access token alone, no database (the principal has no grants: for acting on
 * what the same user already holds, such as ending their own live session while the database is
 * away); agent: an enrolled agent's id and secret (Basic).
 */
export type Auth = 'public' | 'user' | 'token' | 'agent'

export interface ResponseSpec {
  description: string
  schema?: z.ZodType
  contentType?: string
}

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined

export interface HandlerInput<P, Q, B, A extends Auth> {
  params: Infer<P>
  query: Infer<Q>
  body: Infer<B>
  principal: A extends 'user' | 'token' ? Principal : undefined
  agent: A extends 'agent' ? AgentRecord : undefined
}

export interface RouteDef<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  A extends Auth = Auth,
> {
  method: Method
  path: string
  summary: string
  tag: string
  auth: A
  description?: string
  params?: P
  query?: Q
  body?: B
  /** Request body media type; JSON unless said otherwise. */
  bodyContentType?: string
  /**
   * The body's schema per media type, for the document alone, when a route takes several (it then
   * validates `body`, which accepts each, and tells them apart itself).
   */
  bodyContentTypes?: Record<string, z.ZodType>
  responses: Record<number, ResponseSpec>
  handler: (ctx: Context, input: HandlerInput<P, Q, B, A>) => Promise<void>
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds routes of every input type
type AnyRoute = RouteDef<any, any, any, Auth>

const ERROR_STATUSES: Record<number, string> = {
  400: 'Malformed or invalid request',
  401: 'Missing, invalid or expired credentials',
  403: 'Authenticated, but not permitted',
  404: 'Not found (or not visible to the caller)',
  409: 'Conflicts with the current state',
  422: 'Well-formed, but breaks a rule',
  429: 'Too many requests',
}

export class Api {
  readonly routes: AnyRoute[] = []

  route<
    P extends z.ZodType | undefined = undefined,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
    A extends Auth = Auth,
  >(def: RouteDef<P, Q, B, A>): void {
    this.routes.push(def as unknown as AnyRoute)
  }

  mount(router: Router, authenticate: { user: Middleware; token: Middleware; agent: Middleware }): void {
    for (const route of this.routes) {
      const validate: Middleware = async (ctx) => {
        let params: unknown
        if (route.params) {
          // An id that cannot exist (not a UUID) names nothing: 404, like any unknown id.
          const parsed = route.params.safeParse(ctx.params)
          if (!parsed.success) throw notFound()
          params = parsed.data
        }
        const query = route.query ? route.query.parse(ctx.query) : undefined
        let body: unknown
        if (route.body) {
          const raw = (ctx.request as { body?: unknown }).body
          body = route.body.parse(raw === undefined ? {} : raw)
        }
        await route.handler(ctx, {
          params,
          query,
          body,
          principal: ctx.state.principal,
          agent: ctx.state.agent,
        } as never)
      }
      const chain = route.auth === 'public' ? [validate] : [authenticate[route.auth], validate]
      router.register(route.path, [route.method.toUpperCase()], chain, { name: route.path })
    }
  }

  openapi(info: { title: string; version: string; description?: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {}
    // Named schemas (zod .meta({ id })) become components; their $defs/$refs are rewritten to point there.
    const components: Record<string, unknown> = {}
    const rewriteRefs = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewriteRefs)
      if (value && typeof value === 'object') {
        const out: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(value)) {
          out[k] =
            k === '$ref' && typeof v === 'string'
              ? v.replace('#/$defs/', '#/components/schemas/')
              : rewriteRefs(v)
        }
        return out
      }
      return value
    }
    const toSchema = (schema: z.ZodType, io: 'input' | 'output') => {
      const {
        $schema: _ignored,
        $defs,
        ...rest
      } = z.toJSONSchema(schema, {
        io,
        target: 'draft-2020-12',
        unrepresentable: 'any',
        reused: 'inline',
      }) as Record<string, unknown> & { $defs?: Record<string, unknown> }
      for (const [name, def] of Object.entries($defs ?? {})) components[name] ??= rewriteRefs(def)
      return rewriteRefs(rest) as Record<string, unknown>
    }
    const parameters = (schema: z.ZodType | undefined, where: 'path' | 'query') => {
      if (!schema || !(schema instanceof z.ZodObject)) return []
      return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => ({
        name,
        in: where,
        required: where === 'path' || !field.safeParse(undefined).success,
        schema: toSchema(field, 'input'),
        ...(field.description ? { description: field.description } : {}),
      }))
    }
    for (const route of this.routes) {
      const oaPath = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
      paths[oaPath] ??= {}
      const responses: Record<string, unknown> = {}
      for (const [status, spec] of Object.entries(route.responses)) {
        responses[status] = {
          description: spec.description,
          ...(spec.schema
            ? {
                content: {
                  [spec.contentType ?? 'application/json']: { schema: toSchema(spec.schema, 'output') },
                },
              }
            : {}),
        }
      }
      const errorStatuses = [400, ...(route.auth !== 'public' ? [401, 403] : []), 404, 409, 422, 429]
      for (const status of errorStatuses) {
        responses[String(status)] ??= {
          description: ERROR_STATUSES[status],
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        }
      }
      paths[oaPath][route.method] = {
        summary: route.summary,
        ...(route.description ? { description: route.description } : {}),
        tags: [route.tag],
        operationId: `${route.method}${oaPath.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase())}`,
        security:
          route.auth === 'user' || route.auth === 'token'
            ? [{ bearerAuth: [] }]
            : route.auth === 'agent'
              ? [{ agentAuth: [] }]
              : [],
        parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
        ...(route.body
          ? {
              requestBody: {
                required: true,
                content: route.bodyContentTypes
                  ? Object.fromEntries(
                      Object.entries(route.bodyContentTypes).map(([type, schema]) => [
                        type,
                        { schema: toSchema(schema as z.ZodType, 'input') },
                      ]),
                    )
                  : {
                      [route.bodyContentType ?? 'application/json']: {
                        schema: toSchema(route.body, 'input'),
                      },
                    },
              },
            }
          : {}),
        responses,
      }
    }
    toSchema(errorBodySchema, 'output')
    return {
      openapi: '3.1.0',
      info,
      jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          agentAuth: {
            type: 'http',
            scheme: 'basic',
            description: 'An enrolled agent: its id as the user name and its secret as the password',
          },
        },
        schemas: components,
      },
      paths,
    }
  }
}
