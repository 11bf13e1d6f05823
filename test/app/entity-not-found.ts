/**
 * A domain error and the application-wide filter that maps it to a 404, as apps using TypeORM's
 * EntityNotFoundError or Prisma's NotFoundError do: a memoized route's non-HTTP failure must reach such a
 * filter in every process alike.
 */
import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';

/** A domain error, as TypeORM's EntityNotFoundError or Prisma's NotFoundError. */
export class EntityNotFound extends Error {
  override name = 'EntityNotFound';
}

/** The recipe that maps a domain error to a status, for the whole application. */
@Catch(EntityNotFound)
export class EntityNotFoundFilter implements ExceptionFilter {
  catch(_error: EntityNotFound, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse();
    // Express's res.status().json() and Fastify's reply.status().send() both exist on their objects.
    const answer = reply.status(404);
    const body = { statusCode: 404, message: 'Not found' };
    if (typeof answer.json === 'function') answer.json(body);
    else answer.send(body);
  }
}
